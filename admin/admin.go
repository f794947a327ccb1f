// Package admin owns Brisk's user and namespace-limit operations, the ones
// upstream's wskadmin performs: subjects with their namespaces and keys
// (create, get, delete, list, whois, block, unblock) and the per-namespace
// limits documents (set, get, delete), on the documents of the subjects
// database:
//
//	{"_id": subject, "subject": subject, "namespaces": [{"name","uuid","key"}], "blocked"?: bool}
//	{"_id": "<namespace>/limits", "invocationsPerMinute"?: n, "concurrentInvocations"?: n, ...}
//
// [Service] runs the operations on a store and reports the cache keys each
// change makes stale. [Server] serves a Service as JSON over HTTP on a unix
// socket (a running `brisk standalone` holds the embedded store's lock, so
// `brisk admin` reaches its store that way), and [Client] calls it; both
// Service and Client are an [Operations].
//
// Failures are domain errors, matched with errors.Is and errors.As:
// [ErrInvalid] (a [*ValidationError]), [ErrNotFound], [ErrNamespaceExists],
// [ErrSubjectBlocked], [ErrNamespaceNotFound] (a [*NamespaceNotFoundError])
// and [*StoreError] for what the store refused. The package prints nothing;
// `brisk admin` (cmd/brisk) turns results and errors into wskadmin's
// messages and exit codes.
package admin

import (
	"context"
	"errors"
	"fmt"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/store"
)

// Operations are the admin operations, run on a store ([Service]) or sent
// to a running standalone ([Client]).
type Operations interface {
	// CreateUser creates a subject, or adds or replaces one key of it.
	CreateUser(ctx context.Context, req CreateUserRequest) (Credential, error)
	// GetUser reads a subject with all its namespaces and keys.
	GetUser(ctx context.Context, subject string) (User, error)
	// DeleteUser deletes a subject and with it all its keys.
	DeleteUser(ctx context.Context, subject string) error
	// DeleteNamespace removes one namespace (and its key) from a subject.
	DeleteNamespace(ctx context.Context, subject, namespace string) error
	// ListUsers lists the keys that give access to a namespace.
	ListUsers(ctx context.Context, req ListUsersRequest) ([]Identity, error)
	// Whois finds the subject and namespace of a "uuid:key" credential.
	Whois(ctx context.Context, auth string) (Identity, error)
	// Block makes a subject's keys stop authenticating.
	Block(ctx context.Context, subject string) error
	// Unblock lets a blocked subject's keys authenticate again.
	Unblock(ctx context.Context, subject string) error
	// SetLimits sets the given limits of a namespace, keeping the others.
	SetLimits(ctx context.Context, req SetLimitsRequest) error
	// GetLimits reads a namespace's limits; ErrNotFound when it has none.
	GetLimits(ctx context.Context, namespace string) (store.Limits, error)
	// DeleteLimits deletes a namespace's limits (the system's apply again).
	DeleteLimits(ctx context.Context, namespace string) error
}

// CreateUserRequest asks for a new subject or a new key of a subject.
type CreateUserRequest struct {
	// Subject is the subject's name (at least 5 characters, no leading
	// '_', no '/').
	Subject string `json:"subject"`
	// Namespace is the namespace of the key; empty: the subject's own.
	Namespace string `json:"namespace,omitempty"`
	// Auth is the "uuid:key" to use; empty: a new uuid and random key.
	Auth string `json:"auth,omitempty"`
	// Revoke replaces the key of an existing namespace with a new one,
	// keeping its uuid unless Auth gives one.
	Revoke bool `json:"revoke,omitempty"`
	// Force replaces the uuid and key of an existing namespace.
	Force bool `json:"force,omitempty"`
	// GenOnly only generates (or checks) the credential: nothing is stored.
	GenOnly bool `json:"genOnly,omitempty"`
}

// Credential is a uuid and key pair.
type Credential struct {
	UUID string `json:"uuid"`
	Key  string `json:"key"`
}

// String is the credential as wsk takes it: "uuid:key".
func (c Credential) String() string { return c.UUID + ":" + c.Key }

// User is a subject with its namespaces and their keys.
type User struct {
	Subject    string             `json:"subject"`
	Namespaces []api.NamespaceKey `json:"namespaces"`
	Blocked    bool               `json:"blocked,omitempty"`
}

// Namespace returns the key of the user's namespace name.
func (u User) Namespace(name string) (api.NamespaceKey, bool) {
	for _, ns := range u.Namespaces {
		if ns.Name == name {
			return ns, true
		}
	}
	return api.NamespaceKey{}, false
}

// ListUsersRequest asks for the keys of a namespace.
type ListUsersRequest struct {
	Namespace string `json:"namespace"`
	// Limit is the most keys to return; 0: all of them.
	Limit int `json:"limit,omitempty"`
}

// Identity is one key giving access to a namespace, and whose it is.
type Identity struct {
	Subject   string `json:"subject"`
	Namespace string `json:"namespace"`
	UUID      string `json:"uuid"`
	Key       string `json:"key"`
}

// SetLimitsRequest sets limits of a namespace. The fields of Limits that
// are set replace the namespace's; the others keep their values. Rev is
// ignored.
type SetLimitsRequest struct {
	Namespace string       `json:"namespace"`
	Limits    store.Limits `json:"limits"`
}

// Errors of the operations.
var (
	// ErrInvalid is a request the operation rejects before touching the
	// store: an invalid name, credential or value. The error is a
	// [*ValidationError].
	ErrInvalid = errors.New("invalid request")
	// ErrNotFound is a missing subject, credential or limits document. It
	// is the store's [store.ErrNotFound].
	ErrNotFound = store.ErrNotFound
	// ErrConflict is a document changed by someone else meanwhile. It is
	// the store's [store.ErrConflict].
	ErrConflict = store.ErrConflict
	// ErrNamespaceExists is a CreateUser for a namespace the subject
	// already has, without Revoke or Force.
	ErrNamespaceExists = errors.New("namespace already exists")
	// ErrSubjectBlocked is a change to a blocked subject's keys.
	ErrSubjectBlocked = errors.New("subject is blocked")
	// ErrNamespaceNotFound is a namespace the subject does not have. The
	// error is a [*NamespaceNotFoundError].
	ErrNamespaceNotFound = errors.New("namespace not found for subject")
)

// ValidationError is a rejected request; its message is wskadmin's.
type ValidationError struct {
	Msg string
}

func (e *ValidationError) Error() string { return e.Msg }

// Is makes a ValidationError match ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func invalid(format string, args ...any) error {
	return &ValidationError{Msg: fmt.Sprintf(format, args...)}
}

// NamespaceNotFoundError is a namespace a subject does not have.
type NamespaceNotFoundError struct {
	Subject   string `json:"subject"`
	Namespace string `json:"namespace"`
}

func (e *NamespaceNotFoundError) Error() string {
	return fmt.Sprintf("namespace %q not found for subject %q", e.Namespace, e.Subject)
}

// Is makes a NamespaceNotFoundError match ErrNamespaceNotFound.
func (e *NamespaceNotFoundError) Is(target error) bool { return target == ErrNamespaceNotFound }

// StoreError is a failure of the store during an operation. Op says what
// failed, in wskadmin's words ("create subject", "remove namespace",
// "set limits"); Err is the store's error, which matches ErrNotFound or
// ErrConflict when it is one of those.
type StoreError struct {
	Op  string
	Err error
}

func (e *StoreError) Error() string { return e.Op + ": " + e.Err.Error() }

func (e *StoreError) Unwrap() error { return e.Err }

func storeErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return &StoreError{Op: op, Err: err}
}
