package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-kivik/kivik/v4"
	"github.com/go-kivik/kivik/v4/couchdb" // registers the "couch" kivik driver
)

// CouchDriver is the kivik driver name of a CouchDB server.
const CouchDriver = "couch"

// ErrUnavailable means the database could not be reached or did not answer
// in time. It is transient: callers answer 503 and retry later.
var ErrUnavailable = errors.New("database unavailable")

// MsgUnavailable is the API message of ErrUnavailable.
const MsgUnavailable = "The database is currently unavailable. Please try again later."

// Connection bounds of the CouchDB client; every request is also bounded by
// Config.Timeout.
const (
	couchDialTimeout = 5 * time.Second
	couchTLSTimeout  = 10 * time.Second
	// couchMaxConns bounds the connections to the server (and so the requests
	// in flight): callers beyond it wait for a free connection, within their
	// timeout.
	couchMaxConns = 64
)

// CouchConfig returns the Config of a CouchDB server at rawURL, for example
// "http://admin:secret@127.0.0.1:5984". Credentials in the URL are sent with
// HTTP Basic auth on every request (no session cookie to lose when the
// server restarts). prefix is the database name prefix ("" is upstream's
// "whisk_local_").
//
// The client is set up for Apache CouchDB 3.x and for pouchdb-server, which
// the tests use:
//   - request and response compression are off: pouchdb-server stores a
//     gzipped attachment body as is and buffers compressed change feeds;
//   - weak ETags (W/"...", sent by pouchdb-server's Express instead of the
//     document revision) are dropped, so kivik reads revisions from the
//     documents' bodies;
//   - the store never calls GetRev, DesignDocs or Purge, which
//     pouchdb-server does not serve.
func CouchConfig(rawURL, prefix string) (Config, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return Config{}, fmt.Errorf("couchdb url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Config{}, fmt.Errorf("couchdb url %q: want http(s)://[user:password@]host:port[/path]", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return Config{}, fmt.Errorf("couchdb url %q: no query or fragment allowed", u.Redacted())
	}
	if prefix != "" && !validDBPrefix(prefix) {
		return Config{}, fmt.Errorf("database prefix %q: want a lowercase letter, then lowercase letters, digits or _$()+-", prefix)
	}
	user := u.User
	u.User = nil
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: couchDialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   couchTLSTimeout,
		DisableCompression:    true,
		MaxIdleConns:          couchMaxConns,
		MaxIdleConnsPerHost:   couchMaxConns,
		MaxConnsPerHost:       couchMaxConns,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	counting := &countingTransport{rt: stripWeakETag{transport}}
	opts := []kivik.Option{
		couchdb.OptionNoRequestCompression(),
		couchdb.OptionHTTPClient(&http.Client{Transport: counting}),
		couchdb.OptionUserAgent("brisk"),
	}
	if user != nil {
		password, _ := user.Password()
		opts = append(opts, couchdb.BasicAuth(user.Username(), password))
	}
	return Config{Driver: CouchDriver, DSN: u.String(), Prefix: prefix, Options: opts, couch: counting}, nil
}

// validDBPrefix tells whether prefix can start a CouchDB database name.
func validDBPrefix(prefix string) bool {
	for i, r := range prefix {
		switch {
		case r >= 'a' && r <= 'z':
		case i > 0 && (r >= '0' && r <= '9' || strings.ContainsRune("_$()+-", r)):
		default:
			return false
		}
	}
	return true
}

// stripWeakETag removes weak ETags from responses. CouchDB's ETag of a
// document is its quoted revision; pouchdb-server sends a weak content hash
// instead, which kivik would otherwise report as the revision. kivik then
// reads the revision from the body, which works for documents ("_rev") but
// not for a DELETE's answer ({"ok","id","rev"}): there the ETag is set
// from the body's "rev", as CouchDB sends it.
type stripWeakETag struct{ rt http.RoundTripper }

// maxRevBodyBytes bounds the DELETE answer read to find its revision.
const maxRevBodyBytes = 64 << 10

func (s stripWeakETag) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.rt.RoundTrip(r)
	if err != nil || !strings.HasPrefix(resp.Header.Get("ETag"), "W/") {
		return resp, err
	}
	resp.Header.Del("ETag")
	if r.Method != http.MethodDelete || resp.StatusCode/100 != 2 {
		return resp, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxRevBodyBytes))
	if err != nil {
		resp.Body.Close()
		return nil, fmt.Errorf("read DELETE response: %w", err)
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b), resp.Body), resp.Body}
	var ok struct {
		Rev string `json:"rev"`
	}
	if json.Unmarshal(b, &ok) == nil && ok.Rev != "" {
		resp.Header.Set("ETag", `"`+ok.Rev+`"`)
	}
	return resp, nil
}

// unavailable tells whether err means the database could not be reached or
// did not answer in time (kivik reports transport errors as 502), as
// opposed to an answer about the request.
func unavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	switch kivik.HTTPStatus(err) {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}
