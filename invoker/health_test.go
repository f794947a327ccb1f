package invoker_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/invoker"
	"github.com/brisk-serverless/brisk/messaging"
)

func TestPings(t *testing.T) {
	// An invoker pings on the health topic of a real broker every interval,
	// as upstream's PingMessage, and says when it is disabled.
	log := quietLogger()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	broker, err := messaging.StartEmbedded(messaging.EmbeddedConfig{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	if err := messaging.EnsureTopics(ctx, broker.Addrs(), []messaging.TopicSpec{messaging.HealthTopicSpec()}); err != nil {
		t.Fatal(err)
	}
	producer := messaging.NewProducer(broker.Addrs(), messaging.ProducerOptions{Logger: log})
	defer producer.Close()
	inv := invoker.New(invoker.Config{Instance: 3, UserMemoryMB: 1024, Manifest: api.DefaultManifest(), Limits: api.DefaultLimits()},
		newFactory(t), producer, nil, log)
	inv.Start(ctx)
	defer inv.Close()

	pings := make(chan []byte, 100)
	cons := messaging.NewConsumer(broker.Addrs(), "health0", messaging.HealthTopic, messaging.ConsumerOptions{Logger: log, MaxWait: 20 * time.Millisecond})
	defer cons.Close()
	consCtx, stopCons := context.WithCancel(ctx)
	defer stopCons()
	go func() {
		_ = cons.Run(consCtx, func(_ context.Context, v []byte) error {
			select {
			case pings <- v:
			default:
			}
			return nil
		})
	}()

	pingCtx, stopPings := context.WithCancel(ctx)
	pinged := make(chan struct{})
	go func() { inv.RunPings(pingCtx, 50*time.Millisecond); close(pinged) }()
	next := func() map[string]any {
		t.Helper()
		select {
		case v := <-pings:
			var m map[string]any
			if err := json.Unmarshal(v, &m); err != nil {
				t.Fatalf("ping %s: %v", v, err)
			}
			return m
		case <-ctx.Done():
			t.Fatal("no ping on the health topic")
			return nil
		}
	}
	for range 3 { // several: it keeps pinging
		m := next()
		name, _ := m["name"].(map[string]any)
		if m["isEnabled"] != true || name["instance"] != 3.0 || name["userMemory"] != "1024 MB" || name["instanceType"] != "invoker" {
			t.Fatalf("ping = %v", m)
		}
	}
	stopPings()
	<-pinged
	if err := inv.Ping(ctx, false); err != nil {
		t.Fatal(err)
	}
	for {
		if m := next(); m["isEnabled"] == false {
			break
		}
	}
}
