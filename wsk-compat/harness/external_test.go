package harness

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestExternalServer: with BRISK_EXTERNAL_APIHOST set, Start starts nothing
// and points the guest client at that host; Restart and RequireOwnServer
// skip the calling test.
func TestExternalServer(t *testing.T) {
	pings := 0
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ping" {
			pings++
			_, _ = w.Write([]byte("pong"))
			return
		}
		http.NotFound(w, r)
	}))
	defer ts.Close()
	t.Setenv(EnvExternalAPIHost, ts.URL+"/")
	t.Setenv("BRISK_BIN", "/nonexistent/brisk") // would fail Start if it tried to run it

	s := Start(t)
	if s.APIHost != ts.URL || s.Auth != GuestAuth || s.Namespace != GuestNamespace || s.DataDir != "" || pings != 1 {
		t.Errorf("server = %+v after %d pings", s, pings)
	}
	if s.Client == nil || s.Client.Config.BaseURL.String() != ts.URL+"/api" || s.Client.Config.AuthToken != GuestAuth {
		t.Errorf("client config = %+v", s.Client.Config)
	}
	if !External() {
		t.Error("External() = false")
	}
	for name, f := range map[string]func(t *testing.T){
		"Restart":          func(t *testing.T) { Start(t).Restart(); t.Error("Restart returned") },
		"RequireOwnServer": func(t *testing.T) { RequireOwnServer(t, "test"); t.Error("RequireOwnServer returned") },
	} {
		t.Run(name, func(t *testing.T) {
			f(t)
		})
	}
}
