package admin_test

import (
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/brisk-serverless/brisk/admin"
	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/messaging"
	"github.com/brisk-serverless/brisk/store"
	"github.com/brisk-serverless/brisk/store/embedded"
)

const givenAuth = "11111111-2222-4333-8444-555555555555:" +
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

// recorder collects the cache keys a Service invalidates.
type recorder struct{ keys []messaging.CacheKey }

func (r *recorder) invalidate(keys ...messaging.CacheKey) { r.keys = append(r.keys, keys...) }

// take returns the keys recorded since the last take.
func (r *recorder) take() []messaging.CacheKey {
	k := r.keys
	r.keys = nil
	return k
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), store.Config{Driver: embedded.DriverName, DSN: filepath.Join(t.TempDir(), "brisk.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func newService(t *testing.T) (*admin.Service, *store.Store, *recorder) {
	t.Helper()
	st := openStore(t)
	rec := &recorder{}
	return admin.New(st, rec.invalidate), st, rec
}

func identityKey(c admin.Credential) messaging.CacheKey {
	return messaging.IdentityCacheKey(c.UUID, c.Key)
}

// wantStoreErr checks that err is a StoreError of op matching target.
func wantStoreErr(t *testing.T, err error, op string, target error) {
	t.Helper()
	var se *admin.StoreError
	if !errors.As(err, &se) || se.Op != op || !errors.Is(err, target) {
		t.Fatalf("err = %v, want a StoreError of %q matching %v", err, op, target)
	}
}

func wantInvalid(t *testing.T, err error, msg string) {
	t.Helper()
	var ve *admin.ValidationError
	if !errors.Is(err, admin.ErrInvalid) || !errors.As(err, &ve) || ve.Msg != msg {
		t.Fatalf("err = %v, want ErrInvalid %q", err, msg)
	}
}

func TestCreateUser(t *testing.T) {
	svc, st, rec := newService(t)
	ctx := t.Context()

	alice, err := svc.CreateUser(ctx, admin.CreateUserRequest{Subject: " alice "})
	if err != nil {
		t.Fatal(err)
	}
	if len(alice.Key) != 64 || strings.Trim(alice.Key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
		t.Errorf("key %q: want 64 alphanumerics", alice.Key)
	}
	if keys := rec.take(); len(keys) != 0 {
		t.Errorf("a new subject invalidated %v", keys)
	}
	if _, err := svc.CreateUser(ctx, admin.CreateUserRequest{Subject: "alice"}); !errors.Is(err, admin.ErrNamespaceExists) {
		t.Fatalf("second create: %v, want ErrNamespaceExists", err)
	}

	space, err := svc.CreateUser(ctx, admin.CreateUserRequest{Subject: "alice", Namespace: "space1", Auth: givenAuth})
	if err != nil || space.String() != givenAuth {
		t.Fatalf("create with a given key = %v, %v", space, err)
	}
	if keys := rec.take(); !reflect.DeepEqual(keys, []messaging.CacheKey{identityKey(alice)}) {
		t.Errorf("adding a namespace invalidated %v, want alice's key", keys)
	}
	doc, err := st.GetSubject(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	want := []api.NamespaceKey{{Name: "alice", UUID: alice.UUID, Key: alice.Key}, {Name: "space1", UUID: space.UUID, Key: space.Key}}
	if doc.Subject != "alice" || !reflect.DeepEqual(doc.Namespaces, want) {
		t.Errorf("subject document %+v, want namespaces %v", doc, want)
	}

	// Revoke: a new key, the same uuid.
	revoked, err := svc.CreateUser(ctx, admin.CreateUserRequest{Subject: "alice", Revoke: true})
	if err != nil || revoked.UUID != alice.UUID || revoked.Key == alice.Key {
		t.Fatalf("revoke = %v, %v; want uuid %s and a new key", revoked, err, alice.UUID)
	}
	// Force: the given uuid and key.
	const forced = "99999999-2222-4333-8444-555555555555:" +
		"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	if c, err := svc.CreateUser(ctx, admin.CreateUserRequest{Subject: "alice", Namespace: "space1", Auth: forced, Force: true}); err != nil || c.String() != forced {
		t.Fatalf("force = %v, %v", c, err)
	}
	u, err := svc.GetUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := u.Namespace("space1"); !ok || k.UUID+":"+k.Key != forced {
		t.Errorf("space1 after force: %v %v", k, ok)
	}
	if k, ok := u.Namespace("alice"); !ok || k.Key != revoked.Key {
		t.Errorf("alice after revoke: %v %v", k, ok)
	}

	// GenOnly stores nothing.
	gen, err := svc.CreateUser(ctx, admin.CreateUserRequest{Subject: "carol", GenOnly: true})
	if err != nil || gen.UUID == "" || len(gen.Key) != 64 {
		t.Fatalf("genonly = %v, %v", gen, err)
	}
	if _, err := svc.GetUser(ctx, "carol"); !errors.Is(err, admin.ErrNotFound) {
		t.Errorf("genonly stored the subject: %v", err)
	}

	// A blocked subject cannot get keys.
	if err := svc.Block(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateUser(ctx, admin.CreateUserRequest{Subject: "alice", Namespace: "space2"}); !errors.Is(err, admin.ErrSubjectBlocked) {
		t.Errorf("create on a blocked subject: %v, want ErrSubjectBlocked", err)
	}
}

func TestCreateUserInvalid(t *testing.T) {
	svc, st, _ := newService(t)
	for _, c := range []struct {
		req admin.CreateUserRequest
		msg string
	}{
		{admin.CreateUserRequest{Subject: "abcd"}, "Subject name must be at least 5 characters"},
		{admin.CreateUserRequest{Subject: "_design"}, "Subject name must not start with '_' or contain '/'"},
		{admin.CreateUserRequest{Subject: "alice/limits"}, "Subject name must not start with '_' or contain '/'"},
		{admin.CreateUserRequest{Subject: "abcd", Namespace: " "}, "Subject name must be at least 5 characters"},
		{admin.CreateUserRequest{Subject: "alice", Namespace: " "}, "Namespace must not be empty"},
		{admin.CreateUserRequest{Subject: "alice", Namespace: "bad/ns"}, `Namespace "bad/ns" is not valid: 400 ` + api.MsgIllegalNamespace},
		{admin.CreateUserRequest{Subject: "alice", Auth: "nocolon"}, "failed to determine authorization id and key: nocolon"},
		{admin.CreateUserRequest{Subject: "alice", Auth: "nouuid:" + strings.Repeat("k", 64)}, "authorization id is not a valid UUID"},
		{admin.CreateUserRequest{Subject: "alice", Auth: "11111111-2222-4333-8444-555555555555:short"}, "authorization key must be at least 64 characters long"},
		{admin.CreateUserRequest{Subject: "alice", Auth: givenAuth + "a"}, "authorization key must be at most 64 characters long"},
	} {
		_, err := svc.CreateUser(t.Context(), c.req)
		wantInvalid(t, err, c.msg)
	}
	if _, err := st.GetSubject(t.Context(), "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an invalid request stored alice: %v", err)
	}
}

func TestDeleteUserAndNamespace(t *testing.T) {
	svc, _, rec := newService(t)
	ctx := t.Context()
	alice, err := svc.CreateUser(ctx, admin.CreateUserRequest{Subject: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	space, err := svc.CreateUser(ctx, admin.CreateUserRequest{Subject: "alice", Namespace: "space1"})
	if err != nil {
		t.Fatal(err)
	}
	rec.take()

	wantInvalid(t, svc.DeleteNamespace(ctx, "alice", " "), "Namespace must not be empty")
	wantInvalid(t, svc.DeleteNamespace(ctx, " ", "space1"), "Subject must not be empty")
	wantInvalid(t, svc.DeleteUser(ctx, ""), "Subject must not be empty")
	wantStoreErr(t, svc.DeleteNamespace(ctx, "nobody", "space1"), "delete subject", admin.ErrNotFound)

	if err := svc.DeleteNamespace(ctx, " alice", "space1 "); err != nil {
		t.Fatal(err)
	}
	if keys := rec.take(); !slices.Contains(keys, identityKey(space)) {
		t.Errorf("deleting space1 invalidated %v, want its key", keys)
	}
	err = svc.DeleteNamespace(ctx, "alice", "space1")
	var ne *admin.NamespaceNotFoundError
	if !errors.Is(err, admin.ErrNamespaceNotFound) || !errors.As(err, &ne) || *ne != (admin.NamespaceNotFoundError{Subject: "alice", Namespace: "space1"}) {
		t.Fatalf("second delete of space1: %v, want NamespaceNotFoundError", err)
	}

	if err := svc.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if keys := rec.take(); !reflect.DeepEqual(keys, []messaging.CacheKey{identityKey(alice)}) {
		t.Errorf("deleting alice invalidated %v, want her key", keys)
	}
	wantStoreErr(t, svc.DeleteUser(ctx, "alice"), "delete subject", admin.ErrNotFound)
	_, err = svc.GetUser(ctx, "alice")
	wantStoreErr(t, err, "get subject", admin.ErrNotFound)
}

func TestListWhoisBlock(t *testing.T) {
	svc, _, rec := newService(t)
	ctx := t.Context()
	alice, err := svc.CreateUser(ctx, admin.CreateUserRequest{Subject: "alice", Namespace: "space1", Auth: givenAuth})
	if err != nil {
		t.Fatal(err)
	}
	bobby, err := svc.CreateUser(ctx, admin.CreateUserRequest{Subject: "bobby", Namespace: "space1"})
	if err != nil {
		t.Fatal(err)
	}
	aliceID := admin.Identity{Subject: "alice", Namespace: "space1", UUID: alice.UUID, Key: alice.Key}
	bobbyID := admin.Identity{Subject: "bobby", Namespace: "space1", UUID: bobby.UUID, Key: bobby.Key}

	list := func(limit int) []admin.Identity {
		t.Helper()
		ids, err := svc.ListUsers(ctx, admin.ListUsersRequest{Namespace: "space1", Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if got := list(0); !reflect.DeepEqual(got, []admin.Identity{aliceID, bobbyID}) {
		t.Errorf("all identities of space1 = %v", got)
	}
	if got := list(1); !reflect.DeepEqual(got, []admin.Identity{aliceID}) {
		t.Errorf("one identity of space1 = %v", got)
	}
	if _, err := svc.ListUsers(ctx, admin.ListUsersRequest{Namespace: "space1", Limit: -1}); !errors.Is(err, admin.ErrInvalid) {
		t.Errorf("negative limit: %v, want ErrInvalid", err)
	}
	if ids, err := svc.ListUsers(ctx, admin.ListUsersRequest{Namespace: "empty1"}); err != nil || len(ids) != 0 {
		t.Errorf("identities of an empty namespace = %v, %v", ids, err)
	}

	if id, err := svc.Whois(ctx, givenAuth); err != nil || id != aliceID {
		t.Errorf("whois = %+v, %v; want %+v", id, err, aliceID)
	}
	_, err = svc.Whois(ctx, "nocolon")
	wantInvalid(t, err, "failed to determine authorization id and key: nocolon")

	rec.take()
	if err := svc.Block(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if keys := rec.take(); !reflect.DeepEqual(keys, []messaging.CacheKey{identityKey(alice)}) {
		t.Errorf("block invalidated %v, want alice's key", keys)
	}
	if got := list(0); !reflect.DeepEqual(got, []admin.Identity{bobbyID}) {
		t.Errorf("identities with alice blocked = %v", got)
	}
	if _, err := svc.Whois(ctx, givenAuth); !errors.Is(err, admin.ErrNotFound) {
		t.Errorf("whois of a blocked key: %v, want ErrNotFound", err)
	}
	if u, err := svc.GetUser(ctx, "alice"); err != nil || !u.Blocked {
		t.Errorf("blocked user = %+v, %v", u, err)
	}
	wantStoreErr(t, svc.Block(ctx, "nobody"), "block", admin.ErrNotFound)
	wantStoreErr(t, svc.Unblock(ctx, "nobody"), "unblock", admin.ErrNotFound)
	wantInvalid(t, svc.Block(ctx, " "), "Subject must not be empty")

	if err := svc.Unblock(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if got := list(0); !reflect.DeepEqual(got, []admin.Identity{aliceID, bobbyID}) {
		t.Errorf("identities with alice unblocked = %v", got)
	}
}

func ptr[T any](v T) *T { return &v }

func TestLimits(t *testing.T) {
	svc, _, rec := newService(t)
	ctx := t.Context()
	limitsKey := messaging.LimitsCacheKey("space1")

	_, err := svc.GetLimits(ctx, "space1")
	wantStoreErr(t, err, "get limits", admin.ErrNotFound)
	wantStoreErr(t, svc.DeleteLimits(ctx, "space1"), "delete limits", admin.ErrNotFound)

	if err := svc.SetLimits(ctx, admin.SetLimitsRequest{Namespace: "space1",
		Limits: store.Limits{InvocationsPerMinute: ptr(7), ConcurrentInvocations: ptr(3)}}); err != nil {
		t.Fatal(err)
	}
	// A second set keeps what it does not set.
	if err := svc.SetLimits(ctx, admin.SetLimitsRequest{Namespace: "space1", Limits: store.Limits{FiresPerMinute: ptr(0),
		AllowedKinds: []string{"nodejs:20"}, StoreActivations: ptr(false), MaxPayloadSize: ptr("2 MB")}}); err != nil {
		t.Fatal(err)
	}
	if keys := rec.take(); !reflect.DeepEqual(keys, []messaging.CacheKey{limitsKey, limitsKey}) {
		t.Errorf("set limits invalidated %v, want %v twice", keys, limitsKey)
	}
	l, err := svc.GetLimits(ctx, "space1")
	if err != nil {
		t.Fatal(err)
	}
	l.Rev = ""
	want := store.Limits{InvocationsPerMinute: ptr(7), ConcurrentInvocations: ptr(3), FiresPerMinute: ptr(0),
		AllowedKinds: []string{"nodejs:20"}, StoreActivations: ptr(false), MaxPayloadSize: ptr("2 MB")}
	if !reflect.DeepEqual(l, want) {
		t.Errorf("limits = %+v\nwant %+v", l, want)
	}

	for _, c := range []struct {
		req admin.SetLimitsRequest
		msg string
	}{
		{admin.SetLimitsRequest{Namespace: "bad/ns"}, `Namespace "bad/ns" is not valid: 400 ` + api.MsgIllegalNamespace},
		{admin.SetLimitsRequest{Namespace: "space1", Limits: store.Limits{MaxActionMemory: ptr(-1)}}, "--maxActionMemory: want a non-negative integer, got -1"},
		{admin.SetLimitsRequest{Namespace: "space1", Limits: store.Limits{AllowedKinds: []string{}}}, "--allowedKinds: want one or more kinds"},
	} {
		wantInvalid(t, svc.SetLimits(ctx, c.req), c.msg)
	}
	if keys := rec.take(); len(keys) != 0 {
		t.Errorf("rejected sets invalidated %v", keys)
	}

	if err := svc.DeleteLimits(ctx, "space1"); err != nil {
		t.Fatal(err)
	}
	if keys := rec.take(); !reflect.DeepEqual(keys, []messaging.CacheKey{limitsKey}) {
		t.Errorf("delete limits invalidated %v", keys)
	}
	_, err = svc.GetLimits(ctx, "space1")
	wantStoreErr(t, err, "get limits", admin.ErrNotFound)
}

func TestLimitFields(t *testing.T) {
	var l store.Limits
	seen := map[string]bool{}
	for _, f := range admin.LimitFields(&l) {
		if seen[f.Name] {
			t.Errorf("limit %s listed twice", f.Name)
		}
		seen[f.Name] = true
		switch p := f.Field.(type) {
		case **int:
			*p = ptr(1)
		case **bool:
			*p = ptr(true)
		case **string:
			*p = ptr("1 MB")
		case *[]string:
			*p = []string{"nodejs:20"}
		default:
			t.Errorf("limit %s: field of type %T", f.Name, f.Field)
		}
	}
	// Every field but the revision is listed.
	v := reflect.ValueOf(l)
	for i := range v.NumField() {
		if name := v.Type().Field(i).Name; name != "Rev" && v.Field(i).IsZero() {
			t.Errorf("store.Limits.%s is not in LimitFields", name)
		}
	}
}

func TestLimitsCacheKeyIsTheLimitsDocument(t *testing.T) {
	// Controllers evict a namespace's limits by the id of its document.
	if got, want := messaging.LimitsCacheKey("space1").MainID, store.LimitsDocID("space1"); got != want {
		t.Fatalf("LimitsCacheKey = %q, the limits document is %q", got, want)
	}
}
