package proxy_test

import (
	"fmt"
	"net/http"
	"regexp"
	"testing"

	"github.com/brisk-serverless/brisk/actions/proxy"
)

// TestPrestartBehavesLikeLateStart runs the same actions through a proxy
// whose launcher starts at /init and one whose launcher was prestarted: the
// replies (results, init errors, the init environment) are the same.
func TestPrestartBehavesLikeLateStart(t *testing.T) {
	cases := []struct {
		kind, file, main string
		env              map[string]any
		args             any
	}{
		{"nodejs:20", "nodejs/hello.js", "main", nil, map[string]any{"name": "Ada"}},
		{"nodejs:20", "nodejs/env.js", "main", map[string]any{"MY_INIT_VAR": "from-init"}, map[string]any{}},
		{"nodejs:20", "nodejs/syntax.js", "main", nil, nil},
		{"nodejs:20", "nodejs/notfunc.js", "main", nil, nil},
		{"python:3.11", "python/hello.py", "main", nil, map[string]any{"name": "Ada"}},
		{"python:3.11", "python/env.py", "main", map[string]any{"MY_INIT_VAR": "from-init"}, map[string]any{}},
		{"python:3.11", "python/syntax.py", "main", nil, nil},
		{"python:3.11", "python/custom.py", "niam", nil, map[string]any{}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			type reply struct {
				initStatus int
				init       string
				runStatus  int
				run        string
			}
			var got [2]reply
			for i, pre := range []bool{false, true} {
				h := newHarness(t, c.kind, func(cfg *proxy.Config) { cfg.Prestart = pre })
				st, body := h.initFile(c.file, c.main, c.env)
				got[i].initStatus, got[i].init = st, string(body)
				if st == http.StatusOK {
					rst, rbody := h.run(c.args)
					got[i].runStatus, got[i].run = rst, string(rbody)
				}
			}
			// The scratch directories differ; nothing else may.
			scratch := regexp.MustCompile(`/tmp/[^"]*?/brisk-proxy-[0-9]+/`)
			norm := func(r reply) string { return scratch.ReplaceAllString(fmt.Sprint(r), "/SCRATCH/") }
			if norm(got[0]) != norm(got[1]) {
				t.Fatalf("late start: %+v\nprestart:   %+v", got[0], got[1])
			}
			t.Logf("%+v", got[1])
		})
	}
}

func TestPrestartZipActions(t *testing.T) {
	for _, c := range []struct{ kind, dir, main string }{{"nodejs:20", "nodejs-zip", "handler"}, {"python:3.11", "python-zip", "entry"}} {
		t.Run(c.kind, func(t *testing.T) {
			h := newHarness(t, c.kind, func(cfg *proxy.Config) { cfg.Prestart = true })
			st, body := h.initValue(map[string]any{"name": "z", "main": c.main, "code": zipDir(t, c.dir), "binary": true})
			if st != http.StatusOK {
				t.Fatalf("init: %d %s", st, body)
			}
			if st, body := h.run(map[string]any{"name": "Ada"}); st != http.StatusOK {
				t.Fatalf("run: %d %s", st, body)
			}
		})
	}
}
