package wskcompat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// Exact upstream messages.
const (
	msgMalformed     = "The request content was malformed:\n"
	msgIllegalName   = "The name of the entity contains illegal characters."
	msgNotFound      = "The requested resource does not exist."
	msgBadAuth       = "The supplied authentication is invalid"
	msgNoAuth        = "The resource requires authentication, which was not supplied with the request"
	msgExists        = "resource already exists"
	msgInvalidActID  = "The activation id is not valid."
	authRealm        = `Basic realm="OpenWhisk secure realm"`
	maxInvokePayload = 1048576
)

var requestIDRe = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)

// match says how an error message is compared.
type match int

const (
	exact match = iota
	prefix
)

// expectError checks status, the {"error","code"} body, the message and that
// code is the X-Request-ID of the response.
func expectError(t *testing.T, r rawResponse, wantStatus int, how match, wantMsg string) apiError {
	t.Helper()
	if r.Status >= 500 {
		t.Errorf("server error %d for bad input: %s", r.Status, r.Body)
	}
	if r.Status != wantStatus {
		t.Errorf("status = %d, want %d (body %s)", r.Status, wantStatus, r.Body)
	}
	var e apiError
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Errorf("body %q is not the JSON error object: %v", r.Body, err)
		return e
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	switch how {
	case exact:
		if e.Error != wantMsg {
			t.Errorf("error = %q, want %q", e.Error, wantMsg)
		}
	case prefix:
		if !strings.HasPrefix(e.Error, wantMsg) {
			t.Errorf("error = %q, want prefix %q", e.Error, wantMsg)
		}
	}
	rid := r.Header.Get("X-Request-ID")
	if rid == "" {
		t.Errorf("no X-Request-ID header")
	}
	if e.Code != rid {
		t.Errorf("code = %q, X-Request-ID = %q; want equal", e.Code, rid)
	}
	return e
}

// TestBadInput sends requests that upstream OpenWhisk rejects and checks the
// exact status and error message, through raw HTTP.
func TestBadInput(t *testing.T) {
	srv := harness.Start(t)
	auth := srv.Auth
	const actions = "/api/v1/namespaces/_/actions/"

	// One valid action for conflict, size and query tests.
	existing := uniqueName("existing")
	mustInsert(t, srv.Client, newAction(existing, kindNode, actionSource(t, "nodejs/hello.js")), false)
	validBody := func() *bytes.Reader {
		b, _ := json.Marshal(map[string]any{"exec": map[string]any{"kind": kindNode, "code": actionSource(t, "nodejs/echo.js")}})
		return bytes.NewReader(b)
	}
	put := func(name, body string) rawResponse {
		return rawRequest(t, srv, http.MethodPut, actions+name, auth, strings.NewReader(body))
	}

	t.Run("MalformedJSON", func(t *testing.T) {
		expectError(t, put(uniqueName("m"), `{"exec": {"kind": "nodejs:20", "code": `), 400, prefix, msgMalformed)
		expectError(t, put(uniqueName("m"), `not json at all`), 400, prefix, msgMalformed)
		expectError(t, rawRequest(t, srv, http.MethodPost, actions+existing+"?blocking=true", auth, strings.NewReader(`{"name": `)), 400, prefix, msgMalformed)
		// Invoke bodies must be objects.
		expectError(t, rawRequest(t, srv, http.MethodPost, actions+existing+"?blocking=true", auth, strings.NewReader(`["a", "b"]`)), 400, prefix, msgMalformed)
	})

	t.Run("WrongTypes", func(t *testing.T) {
		expectError(t, put(uniqueName("w"), `{"exec": "function main() { return {}; }"}`), 400, prefix, msgMalformed)
		expectError(t, put(uniqueName("w"), `{"exec": {"kind": "nodejs:20", "code": 42}}`), 400, exact,
			msgMalformed+"'code' must be a string defined in 'exec' for 'nodejs:20' actions")
		expectError(t, put(uniqueName("w"), `{"exec": {"code": "function main() {}"}}`), 400, exact,
			msgMalformed+"'kind' must be a string defined in 'exec'")
		expectError(t, put(uniqueName("w"), `{"exec": {"kind": "nodejs:20", "code": "x"}, "limits": {"timeout": "soon"}}`), 400, prefix, msgMalformed)
		expectError(t, put(uniqueName("w"), `{"exec": {"kind": "nodejs:20", "code": "x"}, "parameters": {"a": 1}}`), 400, prefix, msgMalformed)
		expectError(t, put(uniqueName("w"), `{"exec": {"kind": "nodejs:20", "code": "x"}, "annotations": "none"}`), 400, prefix, msgMalformed)
	})

	t.Run("MissingExec", func(t *testing.T) {
		expectError(t, put(uniqueName("x"), `{}`), 400, exact, "exec undefined")
	})

	t.Run("UnknownKind", func(t *testing.T) {
		e := expectError(t, put(uniqueName("k"), `{"exec": {"kind": "cobol:1", "code": "x"}}`), 400, prefix,
			msgMalformed+"The specified runtime 'cobol:1' is not supported by this platform. Valid values are: ")
		for _, k := range []string{kindNode, kindPython} {
			if !strings.Contains(e.Error, "'"+k+"'") {
				t.Errorf("valid values in %q do not list '%s'", e.Error, k)
			}
		}
		if !strings.HasSuffix(e.Error, "'.") {
			t.Errorf("error %q: want the quoted list to end with \"'.\"", e.Error)
		}
	})

	t.Run("BadNames", func(t *testing.T) {
		for _, name := range []string{"bad%21name", "-leading-dash", "trailing%20", "semi%3Bcolon", "quote%22d"} {
			expectError(t, put(name, `{"exec": {"kind": "nodejs:20", "code": "x"}}`), 400, exact, msgIllegalName)
			expectError(t, rawRequest(t, srv, http.MethodGet, actions+name, auth, nil), 400, exact, msgIllegalName)
			expectError(t, rawRequest(t, srv, http.MethodPost, actions+name, auth, nil), 400, exact, msgIllegalName)
		}
		long := strings.Repeat("a", 257)
		expectError(t, put(long, `{"exec": {"kind": "nodejs:20", "code": "x"}}`), 400, exact,
			"Name segement longer than allowed: 257 > 256.")
		// 256 characters is still a valid name.
		r := put(strings.Repeat("b", 256), `{"exec": {"kind": "nodejs:20", "code": "function main() { return {}; }"}}`)
		if r.Status != http.StatusOK {
			t.Errorf("PUT of a 256-character name: status %d, want 200: %s", r.Status, r.Body)
		}
	})

	t.Run("OversizedInvoke", func(t *testing.T) {
		body := []byte(fmt.Sprintf(`{"data": %q}`, strings.Repeat("x", maxInvokePayload)))
		r := rawRequest(t, srv, http.MethodPost, actions+existing+"?blocking=true", auth, bytes.NewReader(body))
		expectError(t, r, http.StatusRequestEntityTooLarge, exact,
			fmt.Sprintf("Request larger than allowed: %d > %d bytes.", len(body), maxInvokePayload))
	})

	t.Run("OversizedParameters", func(t *testing.T) {
		body := fmt.Sprintf(`{"exec": {"kind": "nodejs:20", "code": "x"}, "parameters": [{"key": "big", "value": %q}]}`,
			strings.Repeat("y", maxInvokePayload+10))
		e := expectError(t, put(uniqueName("big"), body), http.StatusRequestEntityTooLarge, prefix, "parameters larger than allowed: ")
		if !strings.HasSuffix(e.Error, fmt.Sprintf(" > %d bytes.", maxInvokePayload)) {
			t.Errorf("error = %q, want suffix \" > %d bytes.\"", e.Error, maxInvokePayload)
		}
	})

	t.Run("MissingEntity", func(t *testing.T) {
		missing := uniqueName("missing")
		for _, m := range []string{http.MethodGet, http.MethodDelete, http.MethodPost} {
			expectError(t, rawRequest(t, srv, m, actions+missing, auth, nil), 404, exact, msgNotFound)
		}
		id := strings.Repeat("0123456789abcdef", 2)
		for _, sub := range []string{"", "/logs", "/result"} {
			expectError(t, rawRequest(t, srv, http.MethodGet, "/api/v1/namespaces/_/activations/"+id+sub, auth, nil), 404, exact, msgNotFound)
		}
	})

	t.Run("WrongKey", func(t *testing.T) {
		for _, creds := range []string{
			harness.GuestUUID + ":" + strings.Repeat("k", 64),          // right shape, wrong key
			"00000000-0000-0000-0000-000000000000:" + harness.GuestKey, // unknown uuid
			harness.GuestUUID + ":short",                               // key not 64 characters
			"not-a-uuid:whatever",                                      // malformed
		} {
			r := rawRequest(t, srv, http.MethodGet, actions, creds, nil)
			expectError(t, r, 401, exact, msgBadAuth)
			if got := r.Header.Get("WWW-Authenticate"); got != authRealm {
				t.Errorf("WWW-Authenticate = %q, want %q", got, authRealm)
			}
		}
	})

	t.Run("NoAuth", func(t *testing.T) {
		for _, p := range []string{actions, actions + existing, "/api/v1/namespaces/_/activations"} {
			r := rawRequest(t, srv, http.MethodGet, p, "", nil)
			expectError(t, r, 401, exact, msgNoAuth)
			if got := r.Header.Get("WWW-Authenticate"); got != authRealm {
				t.Errorf("WWW-Authenticate = %q, want %q", got, authRealm)
			}
		}
	})

	t.Run("PutExistingWithoutOverwrite", func(t *testing.T) {
		expectError(t, rawRequest(t, srv, http.MethodPut, actions+existing, auth, validBody()), 409, exact, msgExists)
		expectError(t, rawRequest(t, srv, http.MethodPut, actions+existing+"?overwrite=false", auth, validBody()), 409, exact, msgExists)
		// The failed PUTs changed nothing.
		a, _, err := srv.Client.Actions.Get(existing, true)
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		if a.Version != "0.0.1" || a.Exec == nil || a.Exec.Code == nil || *a.Exec.Code != actionSource(t, "nodejs/hello.js") {
			t.Errorf("action changed by a rejected PUT: %+v", a)
		}
	})

	t.Run("BadActivationID", func(t *testing.T) {
		const acts = "/api/v1/namespaces/_/activations/"
		id := strings.Repeat("0123456789abcdef", 2)
		cases := []struct{ id, msg string }{
			{"abc", "Activation id length is 3 but must be 32."},
			{id + "0", "Activation id length is 33 but must be 32."},
			{id[:31] + "z", msgInvalidActID},
			{strings.ToUpper(id), msgInvalidActID},
		}
		for _, tc := range cases {
			for _, sub := range []string{"", "/logs", "/result"} {
				expectError(t, rawRequest(t, srv, http.MethodGet, acts+tc.id+sub, auth, nil), 400, exact, tc.msg)
			}
		}
	})

	t.Run("ListQuery", func(t *testing.T) {
		const malformed = "The query parameter '%s' was malformed:\n%s"
		cases := []struct{ path, param, msg string }{
			{actions + "?limit=300", "limit", "The value '300' is not in the range of 0 to 200 for actions."},
			{actions + "?limit=-1", "limit", "The value '-1' is not in the range of 0 to 200 for actions."},
			{actions + "?limit=many", "limit", "The value 'many' is not an integer for actions."},
			{actions + "?skip=-1", "skip", "The value '-1' is not greater than or equal to 0 for actions."},
			{"/api/v1/namespaces/_/activations?limit=300", "limit", "The value '300' is not in the range of 0 to 200 for activations."},
		}
		for _, tc := range cases {
			expectError(t, rawRequest(t, srv, http.MethodGet, tc.path, auth, nil), 400, exact, fmt.Sprintf(malformed, tc.param, tc.msg))
		}
		// The bounds themselves are fine.
		for _, q := range []string{"?limit=200", "?limit=0", "?skip=0&limit=1"} {
			if r := rawRequest(t, srv, http.MethodGet, actions+q, auth, nil); r.Status != http.StatusOK {
				t.Errorf("GET actions%s: status %d, want 200: %s", q, r.Status, r.Body)
			}
		}
	})

	t.Run("InvokeQuery", func(t *testing.T) {
		for _, q := range []string{"timeout=0", "timeout=60001", "timeout=soon"} {
			r := rawRequest(t, srv, http.MethodPost, actions+existing+"?blocking=true&"+q, auth, nil)
			expectError(t, r, 400, exact, "The query parameter 'timeout' was malformed:\nTimeout must be number of milliseconds up to 60000.")
		}
		r := rawRequest(t, srv, http.MethodPost, actions+existing+"?blocking=maybe", auth, nil)
		expectError(t, r, 400, prefix, "The query parameter 'blocking' was malformed:\n")
	})

	t.Run("WrongMethod", func(t *testing.T) {
		r := rawRequest(t, srv, http.MethodPatch, actions+existing, auth, validBody())
		expectError(t, r, http.StatusMethodNotAllowed, prefix, "HTTP method not allowed, supported methods: ")
	})

	t.Run("RequestID", func(t *testing.T) {
		r := rawRequest(t, srv, http.MethodGet, actions+uniqueName("missing"), auth, nil)
		e := expectError(t, r, 404, exact, msgNotFound)
		if !requestIDRe.MatchString(e.Code) {
			t.Errorf("generated X-Request-ID %q, want 32 alphanumerics", e.Code)
		}
		// A client-chosen id is used as the transaction id.
		req := newRawRequest(t, srv, http.MethodGet, actions+uniqueName("missing"), auth, nil)
		req.Header.Set("X-Request-ID", "compatsuiterequestid0123456789ab")
		e = expectError(t, doRaw(t, req), 404, exact, msgNotFound)
		if e.Code != "compatsuiterequestid0123456789ab" {
			t.Errorf("code = %q, want the client's X-Request-ID", e.Code)
		}
	})
}
