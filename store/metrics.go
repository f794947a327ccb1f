package store

import (
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/brisk-serverless/brisk/internal/metrics"
)

// countingTransport counts the CouchDB requests that failed: no answer (the
// database unreachable) or a 5xx answer.
type countingTransport struct {
	rt      http.RoundTripper
	metrics atomic.Pointer[metrics.Metrics]
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(r)
	if m := t.metrics.Load(); m != nil {
		switch {
		case err != nil:
			m.StoreError(true)
		case resp.StatusCode >= 500:
			m.StoreError(resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusServiceUnavailable ||
				resp.StatusCode == http.StatusGatewayTimeout)
		}
	}
	return resp, err
}

// callerNames caches the operation name of each calling program counter.
var callerNames sync.Map // uintptr -> string

// callerName is the name of the Store method that called Store.ctx
// ("GetAction"; a closure counts as the method it is in), the operation
// label of the store's metrics.
func callerName() string {
	var pcs [1]uintptr
	if runtime.Callers(3, pcs[:]) == 0 {
		return "unknown"
	}
	if name, ok := callerNames.Load(pcs[0]); ok {
		return name.(string)
	}
	name := "unknown"
	if f := runtime.FuncForPC(pcs[0]); f != nil {
		name = f.Name() // github.com/.../store.(*Store).GetAction.func1
		name = name[strings.LastIndexByte(name, '/')+1:]
		_, name, _ = strings.Cut(name, ".") // the package
		name = strings.TrimPrefix(name, "(*Store).")
		name, _, _ = strings.Cut(name, ".") // a closure
	}
	callerNames.Store(pcs[0], name)
	return name
}
