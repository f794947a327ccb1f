package admin

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/messaging"
	"github.com/brisk-serverless/brisk/store"
)

// Rules of subjects and keys, as upstream's.
const (
	minSubjectLength = 5
	authKeyLength    = 64
	keyAlphabet      = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
)

// Service runs the admin operations on a store.
type Service struct {
	store *store.Store
	// invalidate receives the cache keys a change made stale (nil: nobody
	// caches them).
	invalidate func(...messaging.CacheKey)
}

var _ Operations = (*Service)(nil)

// New returns a Service on st. After each change it passes the cache keys
// that became stale (the old credentials of a subject, a namespace's limits
// document) to invalidate, which may be nil.
func New(st *store.Store, invalidate func(...messaging.CacheKey)) *Service {
	return &Service{store: st, invalidate: invalidate}
}

func (s *Service) announce(keys ...messaging.CacheKey) {
	if s.invalidate != nil && len(keys) > 0 {
		s.invalidate(keys...)
	}
}

// subjectKeys are the cache keys of every credential of the subjects.
func subjectKeys(docs ...*api.SubjectDoc) []messaging.CacheKey {
	var keys []messaging.CacheKey
	for _, d := range docs {
		if d == nil {
			continue
		}
		for _, ns := range d.Namespaces {
			keys = append(keys, messaging.IdentityCacheKey(ns.UUID, ns.Key))
		}
	}
	return keys
}

// newKey returns a random alphanumeric key of 64 characters, as upstream's.
func newKey() (string, error) {
	b := make([]byte, authKeyLength)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(keyAlphabet))))
		if err != nil {
			return "", fmt.Errorf("generate key: %w", err)
		}
		b[i] = keyAlphabet[n.Int64()]
	}
	return string(b), nil
}

// checkSubject validates the name of a new subject.
func checkSubject(s string) error {
	switch {
	case len(s) < minSubjectLength:
		return invalid("Subject name must be at least 5 characters")
	case strings.HasPrefix(s, "_") || strings.Contains(s, "/"):
		return invalid("Subject name must not start with '_' or contain '/'")
	}
	return nil
}

// CheckNamespace validates a namespace name: a [*ValidationError] when it
// is not valid.
func CheckNamespace(ns string) error {
	if err := api.CheckNamespace(ns); err != nil {
		return invalid("Namespace %q is not valid: %v", ns, err)
	}
	return nil
}

// parseAuth checks a "uuid:key" credential given by the caller.
func parseAuth(auth string) (Credential, error) {
	u, k, ok := strings.Cut(auth, ":")
	if !ok {
		return Credential{}, invalid("failed to determine authorization id and key: %s", auth)
	}
	parsed, err := uuid.Parse(u)
	if err != nil {
		return Credential{}, invalid("authorization id is not a valid UUID")
	}
	if len(k) < authKeyLength {
		return Credential{}, invalid("authorization key must be at least 64 characters long")
	}
	if len(k) > authKeyLength {
		return Credential{}, invalid("authorization key must be at most 64 characters long")
	}
	return Credential{UUID: parsed.String(), Key: k}, nil
}

// CreateUser creates the subject with a key for req.Namespace, or adds that
// namespace to an existing subject; with Revoke or Force it replaces the key
// of a namespace the subject has. It returns the credential (with GenOnly,
// the credential it would have stored).
func (s *Service) CreateUser(ctx context.Context, req CreateUserRequest) (Credential, error) {
	subject := strings.TrimSpace(req.Subject)
	if err := checkSubject(subject); err != nil {
		return Credential{}, err
	}
	desired := subject
	if req.Namespace != "" {
		desired = strings.TrimSpace(req.Namespace)
		if desired == "" {
			return Credential{}, invalid("Namespace must not be empty")
		}
	}
	if err := CheckNamespace(desired); err != nil {
		return Credential{}, err
	}
	var cred Credential
	if req.Auth != "" {
		c, err := parseAuth(req.Auth)
		if err != nil {
			return Credential{}, err
		}
		cred = c
	} else {
		key, err := newKey()
		if err != nil {
			return Credential{}, err
		}
		cred = Credential{UUID: uuid.NewString(), Key: key}
	}
	if req.GenOnly {
		return cred, nil
	}

	const op = "create subject"
	old, err := s.store.GetSubject(ctx, subject)
	var doc api.SubjectDoc
	switch {
	case errors.Is(err, store.ErrNotFound):
		doc = api.SubjectDoc{ID: subject, Subject: subject,
			Namespaces: []api.NamespaceKey{{Name: desired, UUID: cred.UUID, Key: cred.Key}}}
	case err != nil:
		return Credential{}, storeErr(op, err)
	case old.Blocked:
		return Credential{}, ErrSubjectBlocked
	default:
		doc = *old
		doc.Namespaces = slices.Clone(old.Namespaces)
		i := slices.IndexFunc(doc.Namespaces, func(n api.NamespaceKey) bool { return n.Name == desired })
		switch {
		case i < 0:
			doc.Namespaces = append(doc.Namespaces, api.NamespaceKey{Name: desired, UUID: cred.UUID, Key: cred.Key})
		case req.Force:
			doc.Namespaces[i] = api.NamespaceKey{Name: desired, UUID: cred.UUID, Key: cred.Key}
		case req.Revoke:
			// A new key; the uuid stays unless one was given.
			if req.Auth == "" {
				cred.UUID = doc.Namespaces[i].UUID
			}
			doc.Namespaces[i] = api.NamespaceKey{Name: desired, UUID: cred.UUID, Key: cred.Key}
		default:
			return Credential{}, ErrNamespaceExists
		}
	}
	if _, err := s.store.PutSubject(ctx, doc); err != nil {
		return Credential{}, storeErr(op, err)
	}
	s.announce(subjectKeys(old)...)
	return cred, nil
}

// GetUser reads a subject.
func (s *Service) GetUser(ctx context.Context, subject string) (User, error) {
	doc, err := s.store.GetSubject(ctx, subject)
	if err != nil {
		return User{}, storeErr("get subject", err)
	}
	return User{Subject: doc.Subject, Namespaces: doc.Namespaces, Blocked: doc.Blocked}, nil
}

// DeleteUser deletes a subject and all its keys.
func (s *Service) DeleteUser(ctx context.Context, subject string) error {
	const op = "delete subject"
	subject = strings.TrimSpace(subject)
	if subject == "" {
		return invalid("Subject must not be empty")
	}
	doc, err := s.store.GetSubject(ctx, subject)
	if err != nil {
		return storeErr(op, err)
	}
	if err := s.store.DeleteSubject(ctx, doc.ID, doc.Rev); err != nil {
		return storeErr(op, err)
	}
	s.announce(subjectKeys(doc)...)
	return nil
}

// DeleteNamespace removes a namespace and its key from a subject; a
// [*NamespaceNotFoundError] when the subject does not have it.
func (s *Service) DeleteNamespace(ctx context.Context, subject, namespace string) error {
	subject, namespace = strings.TrimSpace(subject), strings.TrimSpace(namespace)
	if subject == "" {
		return invalid("Subject must not be empty")
	}
	if namespace == "" {
		return invalid("Namespace must not be empty")
	}
	doc, err := s.store.GetSubject(ctx, subject)
	if err != nil {
		return storeErr("delete subject", err)
	}
	updated := *doc
	updated.Namespaces = slices.DeleteFunc(slices.Clone(doc.Namespaces), func(n api.NamespaceKey) bool { return n.Name == namespace })
	if len(updated.Namespaces) == len(doc.Namespaces) {
		return &NamespaceNotFoundError{Subject: doc.ID, Namespace: namespace}
	}
	if _, err := s.store.PutSubject(ctx, updated); err != nil {
		return storeErr("remove namespace", err)
	}
	s.announce(subjectKeys(doc)...)
	return nil
}

// ListUsers lists the keys of a namespace (of subjects not blocked).
func (s *Service) ListUsers(ctx context.Context, req ListUsersRequest) ([]Identity, error) {
	if req.Limit < 0 {
		return nil, invalid("pick at least 1 identity to show")
	}
	rows, err := s.store.ListIdentities(ctx, req.Namespace, req.Limit)
	if err != nil {
		return nil, storeErr("get namespace key", err)
	}
	out := make([]Identity, 0, len(rows))
	for _, r := range rows {
		out = append(out, Identity{Subject: r.Subject, Namespace: r.Namespace, UUID: r.UUID, Key: r.Key})
	}
	return out, nil
}

// Whois finds whose the credential auth ("uuid:key") is; ErrNotFound when
// no subject that is not blocked has it.
func (s *Service) Whois(ctx context.Context, auth string) (Identity, error) {
	u, k, ok := strings.Cut(auth, ":")
	if !ok {
		return Identity{}, invalid("failed to determine authorization id and key: %s", auth)
	}
	id, err := s.store.GetIdentity(ctx, u, k)
	if err != nil {
		return Identity{}, storeErr("get subject", err)
	}
	return Identity{Subject: id.Subject, Namespace: id.Namespace, UUID: u, Key: k}, nil
}

// Block blocks a subject: its keys stop authenticating.
func (s *Service) Block(ctx context.Context, subject string) error {
	return s.setBlocked(ctx, subject, true)
}

// Unblock unblocks a subject.
func (s *Service) Unblock(ctx context.Context, subject string) error {
	return s.setBlocked(ctx, subject, false)
}

func (s *Service) setBlocked(ctx context.Context, subject string, block bool) error {
	op := "block"
	if !block {
		op = "unblock"
	}
	subject = strings.TrimSpace(subject)
	if subject == "" {
		return invalid("Subject must not be empty")
	}
	doc, err := s.store.GetSubject(ctx, subject)
	if err != nil {
		return storeErr(op, err)
	}
	updated := *doc
	updated.Blocked = block
	if _, err := s.store.PutSubject(ctx, updated); err != nil {
		return storeErr(op, err)
	}
	s.announce(subjectKeys(doc)...)
	return nil
}
