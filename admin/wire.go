package admin

import (
	"errors"
	"net/http"

	"github.com/brisk-serverless/brisk/store"
)

// The socket protocol: each operation is POST /v1/<operation> with the
// operation's request as a JSON body. 200 answers with its result as JSON
// (an empty object when it has none); any other status with a wireError.
const (
	opCreateUser      = "create-user"
	opGetUser         = "get-user"
	opDeleteUser      = "delete-user"
	opDeleteNamespace = "delete-namespace"
	opListUsers       = "list-users"
	opWhois           = "whois"
	opBlock           = "block"
	opUnblock         = "unblock"
	opSetLimits       = "set-limits"
	opGetLimits       = "get-limits"
	opDeleteLimits    = "delete-limits"
)

// Bodies of the operations that take names only.
type (
	subjectArgs struct {
		Subject string `json:"subject"`
	}
	subjectNamespaceArgs struct {
		Subject   string `json:"subject"`
		Namespace string `json:"namespace"`
	}
	namespaceArgs struct {
		Namespace string `json:"namespace"`
	}
	authArgs struct {
		Auth string `json:"auth"`
	}
	// none is the result of an operation that returns nothing.
	none struct{}
)

// Kinds of wireError, one per domain error.
const (
	kindInvalid           = "invalid"
	kindNamespaceExists   = "namespace_exists"
	kindSubjectBlocked    = "subject_blocked"
	kindNamespaceNotFound = "namespace_not_found"
	kindStore             = "store"
	kindInternal          = "internal"
)

// Causes of a kindStore wireError that callers match.
const (
	causeNotFound    = "not_found"
	causeConflict    = "conflict"
	causeUnavailable = "unavailable"
)

// wireError is a failed operation on the socket.
type wireError struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
	// Op and Cause: of a StoreError.
	Op    string `json:"op,omitempty"`
	Cause string `json:"cause,omitempty"`
	// Subject and Namespace: of a NamespaceNotFoundError.
	Subject   string `json:"subject,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

// encodeError is the status and body of err.
func encodeError(err error) (int, wireError) {
	var (
		ve *ValidationError
		ne *NamespaceNotFoundError
		se *StoreError
	)
	switch {
	case errors.As(err, &ve):
		return http.StatusBadRequest, wireError{Kind: kindInvalid, Message: ve.Msg}
	case errors.As(err, &ne):
		return http.StatusNotFound, wireError{Kind: kindNamespaceNotFound, Message: ne.Error(),
			Subject: ne.Subject, Namespace: ne.Namespace}
	case errors.Is(err, ErrNamespaceExists):
		return http.StatusConflict, wireError{Kind: kindNamespaceExists, Message: err.Error()}
	case errors.Is(err, ErrSubjectBlocked):
		return http.StatusConflict, wireError{Kind: kindSubjectBlocked, Message: err.Error()}
	case errors.As(err, &se):
		w := wireError{Kind: kindStore, Op: se.Op, Message: se.Err.Error()}
		status := http.StatusInternalServerError
		switch {
		case errors.Is(se.Err, store.ErrNotFound):
			status, w.Cause = http.StatusNotFound, causeNotFound
		case errors.Is(se.Err, store.ErrConflict):
			status, w.Cause = http.StatusConflict, causeConflict
		case errors.Is(se.Err, store.ErrUnavailable):
			status, w.Cause = http.StatusServiceUnavailable, causeUnavailable
		}
		return status, w
	}
	return http.StatusInternalServerError, wireError{Kind: kindInternal, Message: err.Error()}
}

// decode is the error that w stands for, matching what encodeError was
// given with errors.Is and errors.As; ok is false for no known kind.
func (w wireError) decode() (err error, ok bool) {
	switch w.Kind {
	case kindInvalid:
		return &ValidationError{Msg: w.Message}, true
	case kindNamespaceNotFound:
		return &NamespaceNotFoundError{Subject: w.Subject, Namespace: w.Namespace}, true
	case kindNamespaceExists:
		return ErrNamespaceExists, true
	case kindSubjectBlocked:
		return ErrSubjectBlocked, true
	case kindStore:
		cause := &remoteError{msg: w.Message}
		switch w.Cause {
		case causeNotFound:
			cause.is = store.ErrNotFound
		case causeConflict:
			cause.is = store.ErrConflict
		case causeUnavailable:
			cause.is = store.ErrUnavailable
		}
		return &StoreError{Op: w.Op, Err: cause}, true
	case kindInternal:
		return &remoteError{msg: w.Message}, true
	}
	return nil, false
}

// remoteError is an error as the server reported it: its text, and the
// sentinel it matched there (or nil).
type remoteError struct {
	msg string
	is  error
}

func (e *remoteError) Error() string { return e.msg }

func (e *remoteError) Unwrap() error { return e.is }
