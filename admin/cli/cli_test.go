package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-kivik/kivik/v4"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/controller"
	"github.com/brisk-serverless/brisk/loadbalancer"
	"github.com/brisk-serverless/brisk/messaging"
	"github.com/brisk-serverless/brisk/store"
	"github.com/brisk-serverless/brisk/store/embedded"
	"github.com/brisk-serverless/brisk/store/storetest"
)

var authRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:[A-Za-z0-9]{64}$`)

// adminRun is one `brisk admin` run.
type adminRun struct {
	code        int
	stdout, err string
}

func runAdminIn(t *testing.T, dir string, args ...string) adminRun {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(append([]string{"--data-dir", dir}, args...), &out, &errOut)
	return adminRun{code: code, stdout: out.String(), err: errOut.String()}
}

// want checks the exit code and the exact output.
func (r adminRun) want(t *testing.T, code int, stdout string) {
	t.Helper()
	if r.code != code || r.stdout != stdout {
		t.Fatalf("exit %d, stdout %q (stderr %q); want exit %d, stdout %q", r.code, r.stdout, r.err, code, stdout)
	}
}

// wantErr checks the exit code and the error text.
func (r adminRun) wantErr(t *testing.T, code int, stderr string) {
	t.Helper()
	if r.code != code || !strings.Contains(r.err, stderr) {
		t.Fatalf("exit %d, stderr %q (stdout %q); want exit %d, stderr containing %q", r.code, r.err, r.stdout, code, stderr)
	}
}

// key checks a successful output of one uuid:key line and returns it.
func (r adminRun) key(t *testing.T) string {
	t.Helper()
	k := strings.TrimSuffix(r.stdout, "\n")
	if r.code != 0 || !authRE.MatchString(k) {
		t.Fatalf("exit %d, stdout %q (stderr %q); want exit 0 and one uuid:key line", r.code, r.stdout, r.err)
	}
	return k
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// apiServer serves the controller on st (no invokers: enough for auth).
func apiServer(t *testing.T, st *store.Store) *controller.Server {
	t.Helper()
	return controller.New(controller.Config{Manifest: api.DefaultManifest(), Limits: api.DefaultLimits()},
		st, loadbalancer.New(loadbalancer.Config{Log: quietLog()}), quietLog())
}

// namespaces is GET /api/v1/namespaces with auth: the status and the list.
func namespaces(t *testing.T, srv *controller.Server, auth string) (int, []string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/api/v1/namespaces", nil)
	u, k, _ := strings.Cut(auth, ":")
	req.SetBasicAuth(u, k)
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	var list []string
	if rec.Code == http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
			t.Fatalf("namespaces: %v: %s", err, rec.Body)
		}
	}
	return rec.Code, list
}

func openStoreAt(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{Driver: embedded.DriverName, DSN: filepath.Join(dir, "brisk.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// rawSubjectsDoc reads a document of the subjects database as stored.
func rawSubjectsDoc(t *testing.T, dir, id string) map[string]any {
	t.Helper()
	client, err := kivik.New(embedded.DriverName, filepath.Join(dir, "brisk.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var doc map[string]any
	if err := client.DB("whisk_local_subjects").Get(context.Background(), id).ScanDoc(&doc); err != nil {
		t.Fatalf("subjects db %s: %v", id, err)
	}
	delete(doc, "_rev")
	return doc
}

func TestAdminUsers(t *testing.T) {
	dir := t.TempDir()
	alice := runAdminIn(t, dir, "user", "create", "alice").key(t)
	runAdminIn(t, dir, "user", "get", "alice").want(t, 0, alice+"\n")
	runAdminIn(t, dir, "user", "create", "alice").wantErr(t, 1, "Namespace already exists")

	// A second namespace for alice, with a given key.
	const spaceAuth = "11111111-2222-4333-8444-555555555555:" +
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	runAdminIn(t, dir, "user", "create", "alice", "-ns", "space1", "-u", spaceAuth).want(t, 0, spaceAuth+"\n")
	runAdminIn(t, dir, "user", "get", "alice", "--namespace", "space1").want(t, 0, spaceAuth+"\n")
	runAdminIn(t, dir, "user", "get", "alice", "-a").want(t, 0, "alice\t"+alice+"\nspace1\t"+spaceAuth+"\n")
	runAdminIn(t, dir, "user", "get", "alice", "-ns", "nope1").wantErr(t, 1, `namespace "nope1" not found for "alice"`)

	// bob shares space1.
	bobSpace := runAdminIn(t, dir, "user", "create", "bobby", "-ns", "space1").key(t)
	runAdminIn(t, dir, "user", "list", "space1", "-a").want(t, 0, spaceAuth+"\talice\n"+bobSpace+"\tbobby\n")
	runAdminIn(t, dir, "user", "list", "space1").want(t, 0, spaceAuth+"\talice\n")
	runAdminIn(t, dir, "user", "list", "space1", "-a", "-k").want(t, 0, spaceAuth+"\n"+bobSpace+"\n")
	runAdminIn(t, dir, "user", "list", "empty1").want(t, 0, "no identities found for namespace \"empty1\"\n")
	runAdminIn(t, dir, "user", "whois", spaceAuth).want(t, 0, "subject: alice\nnamespace: space1\n")

	// The document has upstream's shape.
	got := rawSubjectsDoc(t, dir, "alice")
	aliceUUID, aliceKey, _ := strings.Cut(alice, ":")
	want := map[string]any{"_id": "alice", "subject": "alice", "namespaces": []any{
		map[string]any{"name": "alice", "uuid": aliceUUID, "key": aliceKey},
		map[string]any{"name": "space1", "uuid": "11111111-2222-4333-8444-555555555555", "key": strings.Repeat("a", 64)},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("subject document = %v\nwant %v", got, want)
	}

	// Block: the user's keys leave the identities; unblock brings them back.
	runAdminIn(t, dir, "user", "block", "alice", "nobody").wantErr(t, 1, `Failed to block "nobody" ({"error":"not_found","reason":"missing"})`)
	runAdminIn(t, dir, "user", "list", "space1", "-a").want(t, 0, bobSpace+"\tbobby\n")
	runAdminIn(t, dir, "user", "create", "alice", "-ns", "space2").wantErr(t, 1, "The subject you want to edit is blocked")
	if doc := rawSubjectsDoc(t, dir, "alice"); doc["blocked"] != true {
		t.Errorf("blocked subject document = %v", doc)
	}
	runAdminIn(t, dir, "user", "unblock", "alice").want(t, 0, "\"alice\" unblocked successfully\n")
	runAdminIn(t, dir, "user", "list", "space1", "-a", "-k").want(t, 0, spaceAuth+"\n"+bobSpace+"\n")

	// Revoke: same uuid, new key.
	revoked := runAdminIn(t, dir, "user", "create", "alice", "-r").key(t)
	if revoked == alice || !strings.HasPrefix(revoked, aliceUUID+":") {
		t.Errorf("revoked key %s, was %s: want the same uuid and a new key", revoked, alice)
	}

	// Delete one namespace, then the subject.
	runAdminIn(t, dir, "user", "delete", "alice", "-ns", "space1").want(t, 0, "Namespace deleted\n")
	runAdminIn(t, dir, "user", "delete", "alice", "-ns", "space1").wantErr(t, 1, `Namespace "space1" does not exist for "alice"`)
	runAdminIn(t, dir, "user", "delete", "alice").want(t, 0, "Subject deleted\n")
	runAdminIn(t, dir, "user", "get", "alice").wantErr(t, 1, `Failed to get subject ({"error":"not_found","reason":"missing"})`)
	runAdminIn(t, dir, "user", "delete", "alice").wantErr(t, 1, `Failed to delete subject ({"error":"not_found","reason":"missing"})`)

	// What is left authenticates against a controller on the same store.
	srv := apiServer(t, openStoreAt(t, dir))
	if code, list := namespaces(t, srv, bobSpace); code != http.StatusOK || !reflect.DeepEqual(list, []string{"space1"}) {
		t.Errorf("bobby's key: %d %v, want 200 [space1]", code, list)
	}
	for _, gone := range []string{alice, revoked, spaceAuth} {
		if code, _ := namespaces(t, srv, gone); code != http.StatusUnauthorized {
			t.Errorf("deleted key %s: status %d, want 401", gone, code)
		}
	}
}

func TestAdminBadArguments(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"user", "create", "abcd"}, 2, "Subject name must be at least 5 characters"},
		{[]string{"user", "create", "_design"}, 2, "Subject name must not start with '_' or contain '/'"},
		{[]string{"user", "create", "alice/limits"}, 2, "Subject name must not start with '_' or contain '/'"},
		{[]string{"user", "create", "alice", "-ns", " "}, 2, "Namespace must not be empty"},
		{[]string{"user", "create", "alice", "-u", "nouuid:" + strings.Repeat("k", 64)}, 2, "authorization id is not a valid UUID"},
		{[]string{"user", "create", "alice", "-u", "11111111-2222-4333-8444-555555555555:short"}, 2, "authorization key must be at least 64 characters long"},
		{[]string{"user", "create", "alice", "-u", "nocolon"}, 2, "failed to determine authorization id and key: nocolon"},
		{[]string{"user", "list", "space1", "-p", "0"}, 2, "pick at least 1 identity to show"},
		{[]string{"user", "frobnicate"}, 2, "want one of create, delete, get, whois, list, block, unblock"},
		{[]string{"users"}, 2, `unknown command "users"`},
		{[]string{"limits", "set", "space1", "--invocationsPerMinute", "-1"}, 2, "--invocationsPerMinute: want a non-negative integer"},
		{[]string{"limits", "set", "space1", "--storeActivations", "maybe"}, 2, "--storeActivations: want true or false"},
		{[]string{"limits", "set", "space1", "--noSuchLimit", "1"}, 2, "flag provided but not defined: -noSuchLimit"},
		{[]string{"limits", "set", "bad/ns", "--firesPerMinute", "1"}, 2, `Namespace "bad/ns" is not valid`},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			runAdminIn(t, dir, c.args...).wantErr(t, c.code, c.msg)
		})
	}
	// Nothing was written.
	runAdminIn(t, dir, "user", "get", "alice").wantErr(t, 1, "Failed to get subject")
	runAdminIn(t, dir, "limits", "get", "space1").want(t, 0, "No limits found, default system limits apply\n")
}

func TestAdminLimits(t *testing.T) {
	dir := t.TempDir()
	runAdminIn(t, dir, "limits", "get", "space1").want(t, 0, "No limits found, default system limits apply\n")
	runAdminIn(t, dir, "limits", "delete", "space1").wantErr(t, 1, `Failed to delete limits ({"error":"not_found","reason":"missing"})`)
	runAdminIn(t, dir, "limits", "set", "space1", "--invocationsPerMinute", "7", "--concurrentInvocations", "3").
		want(t, 0, "Limits successfully set for \"space1\"\n")
	// A second set keeps what it does not name, as wskadmin does.
	runAdminIn(t, dir, "limits", "set", "space1", "--firesPerMinute", "0", "--allowedKinds", "nodejs:20", "python:3.11",
		"--storeActivations", "false").want(t, 0, "Limits successfully set for \"space1\"\n")
	runAdminIn(t, dir, "limits", "get", "space1").want(t, 0, "invocationsPerMinute = 7\nfiresPerMinute = 0\n"+
		"concurrentInvocations = 3\nallowedKinds = nodejs:20, python:3.11\nstoreActivations = false\n")

	got := rawSubjectsDoc(t, dir, "space1/limits")
	want := map[string]any{"_id": "space1/limits", "invocationsPerMinute": 7.0, "concurrentInvocations": 3.0,
		"firesPerMinute": 0.0, "allowedKinds": []any{"nodejs:20", "python:3.11"}, "storeActivations": false}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("limits document = %v\nwant %v", got, want)
	}
	st := openStoreAt(t, dir)
	l, err := st.GetLimits(context.Background(), "space1")
	if err != nil || l.InvocationsPerMinute == nil || *l.InvocationsPerMinute != 7 || *l.FiresPerMinute != 0 {
		t.Fatalf("GetLimits = %+v, %v", l, err)
	}
	_ = st.Close()

	runAdminIn(t, dir, "limits", "delete", "space1").want(t, 0, "Limits deleted\n")
	runAdminIn(t, dir, "limits", "get", "space1").want(t, 0, "No limits found, default system limits apply\n")
}

func TestAdminLockedStore(t *testing.T) {
	dir := t.TempDir()
	_ = openStoreAt(t, dir) // held, as by a standalone without its admin socket
	r := runAdminIn(t, dir, "user", "get", "guest")
	r.wantErr(t, 1, "is locked by a running brisk standalone")
	r.wantErr(t, 1, "stop brisk standalone first, or use --couchdb")

	runAdminIn(t, filepath.Join(dir, "missing"), "user", "get", "guest").wantErr(t, 1, "data directory "+filepath.Join(dir, "missing")+" not found")
}

// TestAdminThroughRunningServer runs admin while a server holds the store:
// commands go through admin.sock, and each change is seen by the controller
// at once although it had the identity cached.
func TestAdminThroughRunningServer(t *testing.T) {
	dir := t.TempDir()
	st := openStoreAt(t, dir)
	srv := apiServer(t, st)
	var announced []messaging.CacheKey
	stop := Serve(dir, st, func(keys ...messaging.CacheKey) {
		announced = append(announced, keys...)
		srv.Invalidate(keys...)
	}, quietLog())
	defer stop()
	if fi, err := os.Stat(filepath.Join(dir, adminSocketName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin socket: %v %v, want mode 0600", fi, err)
	}

	alice := runAdminIn(t, dir, "user", "create", "alice").key(t)
	if code, list := namespaces(t, srv, alice); code != http.StatusOK || !reflect.DeepEqual(list, []string{"alice"}) {
		t.Fatalf("new key: %d %v, want 200 [alice]", code, list)
	}
	runAdminIn(t, dir, "user", "block", "alice").want(t, 0, "\"alice\" blocked successfully\n")
	if code, _ := namespaces(t, srv, alice); code != http.StatusUnauthorized {
		t.Fatalf("blocked user: status %d, want 401 at once", code)
	}
	runAdminIn(t, dir, "user", "unblock", "alice").want(t, 0, "\"alice\" unblocked successfully\n")
	if code, _ := namespaces(t, srv, alice); code != http.StatusOK {
		t.Fatalf("unblocked user: status %d, want 200", code)
	}
	revoked := runAdminIn(t, dir, "user", "create", "alice", "--revoke").key(t)
	if code, _ := namespaces(t, srv, alice); code != http.StatusUnauthorized {
		t.Errorf("revoked key: status %d, want 401 at once", code)
	}
	if code, _ := namespaces(t, srv, revoked); code != http.StatusOK {
		t.Errorf("new key: status %d, want 200", code)
	}
	runAdminIn(t, dir, "user", "delete", "alice").want(t, 0, "Subject deleted\n")
	if code, _ := namespaces(t, srv, revoked); code != http.StatusUnauthorized {
		t.Errorf("deleted user: status %d, want 401 at once", code)
	}
	runAdminIn(t, dir, "limits", "set", "alice", "--concurrentInvocations", "2").want(t, 0, "Limits successfully set for \"alice\"\n")
	runAdminIn(t, dir, "limits", "get", "alice").want(t, 0, "concurrentInvocations = 2\n")
	runAdminIn(t, dir, "user", "get", "nobody").wantErr(t, 1, "Failed to get subject")

	aliceUUID, aliceKey, _ := strings.Cut(alice, ":")
	if !containsKey(announced, messaging.LimitsCacheKey("alice")) || !containsKey(announced, messaging.IdentityCacheKey(aliceUUID, aliceKey)) {
		t.Errorf("announced keys %v: want alice's old key and alice/limits", announced)
	}

	// Stopped: the socket is gone and admin opens the file itself.
	stop()
	if _, err := os.Stat(filepath.Join(dir, adminSocketName)); !os.IsNotExist(err) {
		t.Errorf("admin socket left after stop: %v", err)
	}
	runAdminIn(t, dir, "user", "get", "nobody").wantErr(t, 1, "is locked by a running brisk standalone")
}

func containsKey(keys []messaging.CacheKey, k messaging.CacheKey) bool {
	for _, x := range keys {
		if x == k {
			return true
		}
	}
	return false
}

// TestAdminCouchDB runs admin against CouchDB (pouchdb-server, or
// $BRISK_COUCHDB_URL) while a controller serves the same databases; with
// --kafka the change reaches the controller's cache through the
// cacheInvalidation topic.
func TestAdminCouchDB(t *testing.T) {
	url := storetest.CouchURL(t)
	st, prefix := storetest.OpenCouch(t, url)
	broker, err := messaging.StartEmbedded(messaging.EmbeddedConfig{Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := messaging.EnsureTopics(ctx, broker.Addrs(), []messaging.TopicSpec{messaging.CacheInvalidationTopicSpec()}); err != nil {
		t.Fatal(err)
	}
	producer := messaging.NewProducer(broker.Addrs(), messaging.ProducerOptions{Logger: quietLog()})
	defer producer.Close()
	srv := apiServer(t, st)
	runCtx, stopRun := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.RunCacheInvalidation(runCtx, broker.Addrs(), producer, "controller0") }()
	defer func() {
		stopRun()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	couch := func(args ...string) adminRun {
		var out, errOut bytes.Buffer
		code := Main(append([]string{"--couchdb", url, "--db-prefix", prefix, "--kafka", strings.Join(broker.Addrs(), ",")}, args...), &out, &errOut)
		return adminRun{code: code, stdout: out.String(), err: errOut.String()}
	}
	carol := couch("user", "create", "carol").key(t)
	couch("user", "get", "carol").want(t, 0, carol+"\n")
	couch("limits", "set", "carol", "--firesPerMinute", "5").want(t, 0, "Limits successfully set for \"carol\"\n")
	couch("limits", "get", "carol").want(t, 0, "firesPerMinute = 5\n")
	if code, list := namespaces(t, srv, carol); code != http.StatusOK || !reflect.DeepEqual(list, []string{"carol"}) {
		t.Fatalf("carol: %d %v, want 200 [carol]", code, list)
	}
	couch("user", "block", "carol").want(t, 0, "\"carol\" blocked successfully\n")
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _ := namespaces(t, srv, carol)
		if code == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("blocked carol still authenticated (status %d) 30 s after the announced change", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	couch("user", "delete", "carol").want(t, 0, "Subject deleted\n")
	couch("limits", "delete", "carol").want(t, 0, "Limits deleted\n")
}

// TestAdminHelp: --help of admin and of each command exits 0, without a
// data directory, and names the options' values.
func TestAdminHelp(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"-couchdb URL\n", "-data-dir DIR\n", "-kafka BROKERS\n", "-db-prefix P\n"}},
		{[]string{"user", "create", "--help"}, []string{"usage: user create SUBJECT", "-u, --auth UUID:KEY\n", "-ns, --namespace NAMESPACE\n", "-r, --revoke\n"}},
		{[]string{"user", "list", "-h"}, []string{"-p, --pick N\n", "(default 1)"}},
		{[]string{"limits", "set", "--help"}, []string{"--invocationsPerMinute N\n", "--allowedKinds KIND...\n", "--storeActivations true|false\n"}},
	} {
		r := runAdminIn(t, missing, c.args...)
		r.want(t, 0, "")
		for _, w := range c.want {
			if !strings.Contains(r.err, w) {
				t.Errorf("%v: help %q lacks %q", c.args, r.err, w)
			}
		}
		if strings.Contains(r.err, " string\n") || strings.Contains(r.err, " value\n") {
			t.Errorf("%v: help names a value by its type: %q", c.args, r.err)
		}
	}
}
