package controller_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/controller"
	"github.com/brisk-serverless/brisk/loadbalancer"
	"github.com/brisk-serverless/brisk/messaging"
	"github.com/brisk-serverless/brisk/store"
)

// coherenceWait bounds how long a change may take to reach another
// controller through the cacheInvalidation topic (a consumer group joins in
// about a second on the embedded broker).
const coherenceWait = 30 * time.Second

// cacheServer is one controller on a store shared with others.
type cacheServer struct {
	*env
	srv *controller.Server
}

// unthrottled are the system limits with throttles out of the way.
func unthrottled() api.Limits {
	l := api.DefaultLimits()
	l.InvocationsPerMinute, l.ConcurrentInvocations = 1<<30, 1<<20
	return l
}

func newCacheServer(t *testing.T, st *store.Store, act *loadbalancer.Balancer, limits controller.LimitsSource) *cacheServer {
	cfg := controller.Config{Manifest: api.DefaultManifest(), Limits: unthrottled(), NamespaceLimits: limits}
	srv := controller.New(cfg, st, act, quietLogger())
	return &cacheServer{env: &env{t: t, store: st, h: srv.Handler()}, srv: srv}
}

// runInvalidation links s to the cacheInvalidation topic as instance id
// until the test ends.
func (s *cacheServer) runInvalidation(t *testing.T, k *kafkaEnv, id string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.srv.RunCacheInvalidation(ctx, k.broker.Addrs(), k.producer, id) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunCacheInvalidation(%s): %v", id, err)
		}
	})
}

func sharedStore(t *testing.T) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Driver: "brisk-embedded", DSN: filepath.Join(t.TempDir(), "brisk.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	err = st.EnsureSubject(ctx, api.SubjectDoc{ID: "guest", Subject: "guest",
		Namespaces: []api.NamespaceKey{{Name: "guest", UUID: guestUUID, Key: guestKey}}})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func uniqueID(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// invokeV invokes name blocking and returns the status and the "v" the
// fake invoker echoes from the action's parameters.
func (s *cacheServer) invokeV(name string) (int, float64) {
	s.t.Helper()
	r := s.guest(http.MethodPost, "/api/v1/namespaces/_/actions/"+name+"?blocking=true&result=true", nil)
	if r.status != http.StatusOK {
		return r.status, 0
	}
	v, _ := r.object(s.t)["v"].(float64)
	return r.status, v
}

// putV creates or replaces action name with parameter v.
func (s *cacheServer) putV(name string, v int) {
	s.t.Helper()
	r := s.guest(http.MethodPut, "/api/v1/namespaces/_/actions/"+name+"?overwrite=true", map[string]any{
		"exec":       map[string]any{"kind": "nodejs:default", "code": nodeCode},
		"parameters": []any{map[string]any{"key": "v", "value": v}},
	})
	wantStatus(s.t, r, http.StatusOK)
}

// eventually polls cond every 50 ms until it holds or coherenceWait passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(coherenceWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen within %v", what, coherenceWait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCacheInvalidationAcrossControllers: two controllers share a store; a
// write through one reaches the other's action cache through the
// cacheInvalidation topic.
func TestCacheInvalidationAcrossControllers(t *testing.T) {
	k := startKafka(t)
	st := sharedStore(t)
	a := newCacheServer(t, st, k.balancer, nil)
	b := newCacheServer(t, st, k.balancer, nil)
	a.runInvalidation(t, k, uniqueID("ctlA"))
	b.runInvalidation(t, k, uniqueID("ctlB"))

	name := uniqueID("coherent-")
	a.putV(name, 1)
	if status, v := b.invokeV(name); status != http.StatusOK || v != 1 {
		t.Fatalf("invoke through b: %d v=%v, want 200 v=1", status, v)
	}
	a.putV(name, 2) // b has v=1 cached for minutes unless told
	eventually(t, "update through a, invoked through b", func() bool {
		_, v := b.invokeV(name)
		return v == 2
	})
	wantStatus(t, a.guest(http.MethodDelete, "/api/v1/namespaces/_/actions/"+name, nil), http.StatusOK)
	eventually(t, "delete through a, invoked through b", func() bool {
		status, _ := b.invokeV(name)
		return status == http.StatusNotFound
	})
}

// TestCacheIgnoresOwnInvalidations: a controller drops messages it sent
// (it evicted already), and handles everyone else's.
func TestCacheIgnoresOwnInvalidations(t *testing.T) {
	k := startKafka(t)
	st := sharedStore(t)
	s := newCacheServer(t, st, k.balancer, nil)
	self := uniqueID("ctlSelf")
	s.runInvalidation(t, k, self)

	name := uniqueID("own-")
	s.putV(name, 1)
	if _, v := s.invokeV(name); v != 1 {
		t.Fatalf("v = %v, want 1", v)
	}
	// Changed behind the controller's back: the cache still answers v=1.
	doc, err := st.GetAction(context.Background(), "guest/"+name)
	if err != nil {
		t.Fatal(err)
	}
	doc.Parameters = api.KeyValues{}.Set("v", 2)
	if _, err := st.PutEntity(context.Background(), doc.ID, doc.Rev, doc); err != nil {
		t.Fatal(err)
	}
	msg := func(instance string) []byte {
		raw, err := json.Marshal(messaging.CacheInvalidationMessage{Key: messaging.CacheKey{MainID: "guest/" + name}, InstanceID: instance})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	if err := s.srv.HandleCacheInvalidation(context.Background(), msg(self)); err != nil {
		t.Fatal(err)
	}
	if _, v := s.invokeV(name); v != 1 {
		t.Errorf("after its own message: v = %v, want the cached 1", v)
	}
	if err := s.srv.HandleCacheInvalidation(context.Background(), msg("controller9")); err != nil {
		t.Fatal(err)
	}
	if _, v := s.invokeV(name); v != 2 {
		t.Errorf("after another controller's message: v = %v, want 2", v)
	}
	for _, bad := range []string{`not json`, `{"key":{},"instanceId":"x"}`} {
		if err := s.srv.HandleCacheInvalidation(context.Background(), []byte(bad)); err == nil {
			t.Errorf("message %s: no error", bad)
		}
	}
	if err := s.srv.RunCacheInvalidation(context.Background(), k.broker.Addrs(), k.producer, "again"); !errors.Is(err, controller.ErrCacheInvalidationRunning) {
		t.Errorf("second RunCacheInvalidation: %v, want ErrCacheInvalidationRunning", err)
	}
}

// TestIdentityInvalidationFromAdmin: an admin change announced on the topic
// (as `brisk admin --kafka` does) evicts a cached identity.
func TestIdentityInvalidationFromAdmin(t *testing.T) {
	k := startKafka(t)
	st := sharedStore(t)
	s := newCacheServer(t, st, k.balancer, nil)
	s.runInvalidation(t, k, uniqueID("ctlAuth"))
	ctx := context.Background()

	const uuid = "55555555-71f6-4ed5-8c54-816aa4f8c502"
	auth := uuid + ":" + guestKey
	subject := api.SubjectDoc{ID: "carol", Subject: "carol", Namespaces: []api.NamespaceKey{{Name: "carol", UUID: uuid, Key: guestKey}}}
	rev, err := st.PutSubject(ctx, subject)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, s.do(http.MethodGet, "/api/v1/namespaces", auth, nil), http.StatusOK)

	subject.Rev, subject.Blocked = rev, true
	if _, err := st.PutSubject(ctx, subject); err != nil {
		t.Fatal(err)
	}
	// Cached: still accepted until told.
	wantStatus(t, s.do(http.MethodGet, "/api/v1/namespaces", auth, nil), http.StatusOK)
	raw, err := json.Marshal(messaging.CacheInvalidationMessage{Key: messaging.IdentityCacheKey(uuid, guestKey), InstanceID: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.producer.Send(ctx, messaging.CacheInvalidationTopic, raw); err != nil {
		t.Fatal(err)
	}
	eventually(t, "blocked user refused", func() bool {
		return s.do(http.MethodGet, "/api/v1/namespaces", auth, nil).status == http.StatusUnauthorized
	})
	// The guest, cached too, is untouched.
	wantStatus(t, s.guest(http.MethodGet, "/api/v1/namespaces", nil), http.StatusOK)
}

// TestLimitsCache: namespace limits are read through a cache that an
// invalidation of "<ns>/limits" clears.
func TestLimitsCache(t *testing.T) {
	k := startKafka(t)
	st := sharedStore(t)
	s := newCacheServer(t, st, k.balancer, controller.LimitsFromStore(st))
	name := uniqueID("limited-")
	s.putV(name, 1)
	if status, _ := s.invokeV(name); status != http.StatusOK {
		t.Fatalf("invoke: %d, want 200", status)
	}
	zero := 0
	if _, err := st.PutLimits(context.Background(), "guest", store.Limits{ConcurrentInvocations: &zero}); err != nil {
		t.Fatal(err)
	}
	if status, _ := s.invokeV(name); status != http.StatusOK {
		t.Fatalf("invoke with the limits cached: %d, want 200", status)
	}
	s.srv.Invalidate(messaging.LimitsCacheKey("guest"))
	if status, _ := s.invokeV(name); status != http.StatusTooManyRequests {
		t.Fatalf("invoke after the limits changed: %d, want 429", status)
	}
}

// BenchmarkInvokeCache measures a blocking invoke through the controller and
// the fake invoker with the identity and the action cached (hits), and with
// both evicted before every invoke (misses: a view query for the key and a
// document read for the action).
func BenchmarkInvokeCache(b *testing.B) {
	kafkaOnce.Do(func() { kafka, kafkaErr = newKafkaEnv() })
	if kafkaErr != nil {
		b.Fatal(kafkaErr)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Driver: "brisk-embedded", DSN: filepath.Join(b.TempDir(), "brisk.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	err = st.EnsureSubject(ctx, api.SubjectDoc{ID: "guest", Subject: "guest",
		Namespaces: []api.NamespaceKey{{Name: "guest", UUID: guestUUID, Key: guestKey}}})
	if err != nil {
		b.Fatal(err)
	}
	srv := controller.New(controller.Config{Manifest: api.DefaultManifest(), Limits: unthrottled()}, st, kafka.balancer, quietLogger())
	send := func(method, path string, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.SetBasicAuth(guestUUID, guestKey)
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		return rec
	}
	if r := send(http.MethodPut, "/api/v1/namespaces/_/actions/bench", `{"exec":{"kind":"nodejs:default","code":"function main(p) { return p }"}}`); r.Code != http.StatusOK {
		b.Fatalf("create action: %d %s", r.Code, r.Body)
	}
	for _, c := range []struct {
		name  string
		evict bool
	}{{"hits", false}, {"misses", true}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if c.evict {
					srv.Invalidate(messaging.CacheKey{MainID: "guest/bench"}, messaging.IdentityCacheKey(guestUUID, guestKey))
				}
				if r := send(http.MethodPost, "/api/v1/namespaces/_/actions/bench?blocking=true&result=true", ""); r.Code != http.StatusOK {
					b.Fatalf("invoke: %d %s", r.Code, r.Body)
				}
			}
		})
	}
}
