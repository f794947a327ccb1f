package wskcompat

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// TestHostileInput sends hostile requests to every endpoint of a real
// `brisk standalone` for a bounded time (BRISK_FUZZ_SECONDS, default 20):
// deep, huge, odd and broken JSON, invalid UTF-8, duplicate keys, odd
// paths, queries and headers. Every answer must be below 500 (the caller's
// mistakes are 4xx), and the server must still answer afterwards. The seed
// is logged; BRISK_FUZZ_SEED repeats a run.
func TestHostileInput(t *testing.T) {
	if os.Getenv(harness.EnvExternalAPIHost) != "" {
		t.Skip("the hostile-input run drives its own standalone")
	}
	bound := 20 * time.Second
	if v := os.Getenv("BRISK_FUZZ_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("BRISK_FUZZ_SECONDS=%q: want a number of seconds", v)
		}
		bound = time.Duration(n) * time.Second
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("BRISK_FUZZ_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("BRISK_FUZZ_SEED=%q: %v", v, err)
		}
		seed = s
	}
	t.Logf("seed %d (BRISK_FUZZ_SEED=%d repeats this run)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	t.Setenv("BRISK_INVOCATIONS_PER_MINUTE", "1000000")
	t.Setenv("BRISK_FIRES_PER_MINUTE", "1000000")
	srv := harness.Start(t)
	client := &http.Client{Timeout: 90 * time.Second}
	send := func(method, path string, header http.Header, body []byte) (int, string) {
		req, err := http.NewRequest(method, srv.APIHost+path, bytes.NewReader(body))
		if err != nil {
			return 0, "" // a request Go itself refuses to build is not sent
		}
		req.Header = header
		resp, err := client.Do(req)
		if err != nil && strings.Contains(err.Error(), "invalid header field") {
			return 0, "" // Go's client refuses to send it
		}
		if err != nil {
			t.Fatalf("%s %s: no answer: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return resp.StatusCode, string(b)
	}
	jsonHeader := func() http.Header {
		h := http.Header{"Content-Type": {"application/json"}}
		user, pass, _ := strings.Cut(harness.GuestAuth, ":")
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.SetBasicAuth(user, pass)
		h.Set("Authorization", r.Header.Get("Authorization"))
		return h
	}
	// The actions invoked are known good: an application error is a 502 by
	// upstream's protocol, not the platform failing.
	for _, setup := range []struct{ path, body string }{
		{"/api/v1/namespaces/_/actions/echo", `{"exec":{"kind":"nodejs:20","code":"function main(p) { return { n: Object.keys(p).length }; }"}}`},
		{"/api/v1/namespaces/_/actions/webecho?overwrite=true", `{"exec":{"kind":"nodejs:20","code":"function main(p) { return { n: Object.keys(p).length }; }"},"annotations":[{"key":"web-export","value":true}]}`},
		{"/api/v1/namespaces/_/triggers/fz", `{}`},
		{"/api/v1/namespaces/_/rules/fzr", `{"trigger":"/_/fz","action":"/_/echo"}`},
		{"/api/v1/namespaces/_/packages/fzp", `{}`},
	} {
		if st, b := send(http.MethodPut, setup.path, jsonHeader(), []byte(setup.body)); st != http.StatusOK {
			t.Fatalf("setup PUT %s: %d %s", setup.path, st, b)
		}
	}

	paths := []string{
		"/api/v1/namespaces/_/actions/echo?blocking=true&result=true",
		"/api/v1/namespaces/_/actions/echo",
		"/api/v1/namespaces/_/actions/fz-%s",
		"/api/v1/namespaces/_/actions/fzp/fz-%s",
		"/api/v1/namespaces/_/actions?limit=%s&skip=%s",
		"/api/v1/namespaces/_/packages/fz-%s",
		"/api/v1/namespaces/_/triggers/fz",
		"/api/v1/namespaces/_/triggers/fz-%s",
		"/api/v1/namespaces/_/rules/fz-%s",
		"/api/v1/namespaces/_/activations?name=%s&since=%s&upto=%s&docs=%s",
		"/api/v1/namespaces/_/activations/%s",
		"/api/v1/namespaces/%s/actions",
		"/api/v1/namespaces/_/limits",
		"/api/v1/web/guest/default/webecho.%s",
		"/api/v1/web/guest/default/webecho.json/%s",
		"/api/v1/web/%s/%s/%s",
		"/%s",
	}
	methods := []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodPatch, http.MethodOptions, http.MethodHead}
	deadline := time.Now().Add(bound)
	var count, status4xx int
	for time.Now().Before(deadline) {
		tmpl := paths[rng.IntN(len(paths))]
		var args []any
		for range strings.Count(tmpl, "%s") {
			args = append(args, url.PathEscape(hostileSegment(rng)))
		}
		path := fmt.Sprintf(tmpl, args...)
		method := methods[rng.IntN(len(methods))]
		if strings.Contains(tmpl, "/actions/echo") || strings.HasSuffix(tmpl, "/triggers/fz") {
			method = http.MethodPost // invoke and fire; the fixtures stay
		}
		header := jsonHeader()
		switch rng.IntN(8) {
		case 0:
			header.Set("Content-Type", []string{"text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin1", "", "multipart/form-data; boundary=x", "application/ld+json"}[rng.IntN(6)])
		case 1:
			header.Set("Authorization", "Basic "+hostileSegment(rng))
		case 2:
			header.Set("X-Request-ID", hostileSegment(rng))
		case 3:
			header.Set("Accept", hostileSegment(rng))
		}
		body := hostileJSON(rng)
		st, b := send(method, path, header, body)
		if st == 0 {
			continue
		}
		count++
		if st >= 500 {
			t.Errorf("%s %s with a %d-byte body %q... answered %d: %s", method, path, len(body), clip(body, 120), st, b)
		}
		if st >= 400 {
			status4xx++
		}
	}
	t.Logf("%d hostile requests in %s, %d answered 4xx, none 5xx (seed %d)", count, bound, status4xx, seed)
	if st, b := send(http.MethodPost, "/api/v1/namespaces/_/actions/echo?blocking=true&result=true", jsonHeader(), []byte(`{"a":1}`)); st != http.StatusOK {
		t.Fatalf("the server does not invoke after the run: %d %s", st, b)
	}
}

func clip(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n])
	}
	return string(b)
}

// hostileSegment is an odd path segment, query value or header value.
func hostileSegment(rng *rand.Rand) string {
	switch rng.IntN(9) {
	case 0:
		return strings.Repeat("a", rng.IntN(9000))
	case 1:
		return "../../" + strings.Repeat("..%2f", rng.IntN(5))
	case 2:
		return string([]byte{0xff, 0xfe, 'x', 0xc3})
	case 3:
		return "-1"
	case 4:
		return "99999999999999999999"
	case 5:
		return "ä🙂\u0000\u200b"
	case 6:
		return ""
	case 7:
		return "a b/c?d#e"
	default:
		return strconv.Itoa(rng.IntN(100))
	}
}

// hostileJSON is a body that is odd JSON, broken JSON or no JSON at all.
func hostileJSON(rng *rand.Rand) []byte {
	switch rng.IntN(12) {
	case 0: // deep
		n := rng.IntN(20000) + 1
		return []byte(strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n))
	case 1: // deep arrays inside an object
		n := rng.IntN(20000) + 1
		return []byte(`{"p":` + strings.Repeat("[", n) + strings.Repeat("]", n) + "}")
	case 2: // odd numbers
		return []byte(`{"n":` + []string{"1e999999", "-0", "1E-400", "123456789012345678901234567890", "0.0000000000000000000000001", "-9223372036854775809"}[rng.IntN(6)] + `}`)
	case 3: // invalid UTF-8 in a string and a key
		return []byte("{\"s\":\"\xff\xfe\",\"\xc3\":1}")
	case 4: // duplicate keys
		return []byte(`{"exec":{"kind":"nodejs:20","code":"x"},"exec":{"kind":"python:3.11"},"a":1,"a":[1]}`)
	case 5: // big string
		return []byte(`{"s":"` + strings.Repeat("x", rng.IntN(200000)) + `"}`)
	case 6: // truncated
		return []byte(`{"exec":{"kind":"nodejs:20","code":"function main(){}"`)
	case 7: // not an object
		return []byte([]string{`[]`, `"s"`, `1`, `null`, `true`, `[{"a":1}]`}[rng.IntN(6)])
	case 8: // empty
		return nil
	case 9: // control characters and escapes
		return []byte(`{"s":"\u0000\ud800\udfff\\x","t":"\"\\\/\b\f\n\r\t"}`)
	case 10: // a plausible entity with odd fields
		return []byte(`{"exec":{"kind":"` + []string{"nodejs:20", "blackbox", "sequence", "x:y", ""}[rng.IntN(5)] +
			`","code":` + []string{`"function main(){}"`, `1`, `null`, `{}`}[rng.IntN(4)] + `,"components":["/_/echo",1]},"limits":{"timeout":` +
			[]string{"-1", "1e10", "0", `"x"`}[rng.IntN(4)] + `,"memory":` + []string{"1", "999999999", "256"}[rng.IntN(3)] + `},"parameters":[{"key":"k"},{"value":1}],"annotations":{"k":"v"}}`)
	default: // random bytes
		b := make([]byte, rng.IntN(512))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
}
