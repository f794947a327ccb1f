// Package messaging owns everything Brisk sends over Kafka: the topic names and
// their retention settings, the message types in upstream OpenWhisk's JSON
// shape, a tuned kafka-go producer and consumer, and an in-process
// Kafka-protocol broker for standalone mode.
//
// # Topics and messages
//
// The topics are those of upstream's classic topology:
//
//	invoker<N>         ActivationMessage        controller → invoker N       48 h
//	completed<C>       AcknowledgementMessage   invoker → controller C       1 h
//	health             PingMessage              invokers → all controllers   1 h
//	cacheInvalidation  CacheInvalidationMessage controller → controllers     5 min
//
// The message types marshal to, and parse from, exactly the JSON that
// upstream's Scala code writes, so Brisk components can share a Kafka cluster
// with upstream ones.
//
// # Transport
//
// [Producer] and [Consumer] wrap kafka-go with settings chosen for latency
// (measured by this package's BenchmarkRoundTrip; see docs/kafka.md): a produce is sent as soon as it is handed
// over (no 1 s batch timer), acknowledgements are explicit, fetches long-poll
// with MinBytes 1, and a consumer commits each message's offset after its
// handler returns, so a consumer restarted in the same group neither loses
// nor re-runs handled messages.
//
// Delivery is at least once. Consumer.Run commits a message's offset only
// after its handler returned, so a crash between the two delivers the message
// again; handlers must be idempotent. A handler's error does not stop the
// commit: the error is logged and the topic moves on. The exception is an
// error returned once Run's context has ended (an interrupted handler): that
// message stays uncommitted for the next member of the group.
// ConsumerOptions.PipelineCommits trades a slightly larger crash window for
// not waiting on each commit, and [Recent] helps handlers drop duplicates.
//
// The package's conformance suite, messaging/messagingtest, runs against the
// embedded broker and against a real Apache Kafka 4.x assembled by
// scripts/kafka.sh (docs/kafka.md).
//
// [EmbeddedBroker] runs github.com/twmb/franz-go/pkg/kfake in process, so that
// standalone mode runs the same kafka-go code as a multi-process deployment.
// Topics must be created with [EnsureTopics], which always sets retention:
// without a DataDir kfake keeps every record in memory until retention removes
// it, and it frees memory one whole segment at a time, so the embedded broker
// also caps every topic's segment.bytes and retention.bytes.
package messaging
