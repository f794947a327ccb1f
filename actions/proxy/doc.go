// Package proxy is the action proxy that runs inside every action container:
// an HTTP server speaking the OpenWhisk runtime protocol (POST /init, POST
// /run) for the nodejs, python and blackbox kinds.
//
// At /init the proxy prepares the action code (plain source or a base64 zip)
// in a scratch directory and, for nodejs and python, starts one long-lived
// launcher child process (node or python3 running an embedded launcher
// script). The launcher loads the user code once and then serves one
// activation per line written to its stdin ({"id":N,"value":...,"env":{...}},
// N a proxy-local counter), answering each with one JSON line on file
// descriptor 3 that starts with the same "id". The user code's stdout and
// stderr are the proxy's own. A blackbox action is an executable the proxy
// starts once per /run, reading its output through pipes.
//
// # Concurrency
//
// An action with limits.concurrency N > 1 gets up to N overlapping /run
// requests on one container:
//
//   - nodejs: every /run goes to the launcher at once; the launcher starts
//     each activation as its line arrives and the proxy matches replies to
//     requests by id. process.env is shared: each activation sets its
//     __OW_* variables when it starts, so the last one started wins (as in
//     upstream's nodejs runtime).
//   - blackbox: every /run starts its own process, so runs overlap freely.
//   - python: one activation at a time (the launcher is single-threaded);
//     overlapping requests wait their turn.
//
// At most Config.MaxConcurrentRuns (default 1000) /run requests are in
// progress at once; more get 429 {"error":"Too many concurrent activations in
// this container (limit 1000)."}. Never 503: that means an unhealthy
// container to the invoker.
//
// When a nodejs /run request is cancelled (the invoker gave up at the
// action's time limit), or the activation throws synchronously (a "fatal"
// reply), the container takes no further runs (502 "... the action can no
// longer run ..."): the launcher is killed at once if no other request waits
// on it, otherwise when the last one ends; those still get their real
// replies. A launcher that dies fails every request waiting on it with 502.
//
// # Log tags and sentinels
//
// The framing of the log lines and the sentinel is defined in package
// logproto (actions/proxy/logproto), which the invoker reads them with. A log
// line written on behalf of activation X (X is the /run body's
// "activation_id", as the action sees it in __OW_ACTIVATION_ID) reaches the
// container's stdout or stderr tagged with X (logproto.AppendLine). Lines
// that cannot be attributed to an activation in progress (module load,
// output after an activation has ended, python's output, a run without an
// id) are written untagged. A run whose activation_id is missing or not a
// valid tag (logproto.ValidTag: empty, or holding control characters) is not
// tagged at all.
//
// After each /run the sentinel (logproto.Sentinel) is written on both
// streams, tagged like X's lines (logproto.SentinelLine), or untagged for a
// run without an id; after a failed /init it is untagged. Every line of
// X is written before X's sentinel on the same stream. To keep that true
// while other activations write, the sentinels of an activation the launcher
// answers (or acknowledges a cancel for) are written by the launcher itself,
// after it has flushed the activation's partial lines and before its fd 3
// reply; the proxy writes the other sentinels (runs refused before reaching
// the launcher, runs failed by the launcher's death, blackbox runs, failed
// inits). nodejs tags by running each activation in an AsyncLocalStorage
// context and routing process.stdout.write and process.stderr.write through
// it: complete lines go out tagged at once, a partial line when it is
// completed or when the activation ends. Blackbox runs have their stdout log
// lines and stderr lines tagged by the proxy, one whole line per write.
//
// The launcher also starts every tagged line and sentinel on a line of its
// own, ending a line an untagged write left unfinished. The proxy and the
// launcher share the pipes, and a write of more than PIPE_BUF bytes is not
// atomic: the one case left where a proxy-written line could land inside a
// long line of the user's is a sentinel for a run the proxy refused (400,
// 403, 429, 502 "can no longer run") while the launcher is still serving
// other activations.
package proxy
