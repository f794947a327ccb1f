package embedded

import (
	"errors"
	"fmt"
	"net/http"
)

// statusError is an error carrying an HTTP status and a CouchDB error name, so
// kivik.HTTPStatus(err) reports the same status CouchDB would.
type statusError struct {
	status int    // HTTP status, e.g. 404
	name   string // CouchDB error name, e.g. "not_found"
	reason string // CouchDB reason, e.g. "missing"
	err    error  // wrapped cause, if any
}

func (e *statusError) Error() string {
	msg := "brisk-embedded: " + e.name
	if e.reason != "" {
		msg += ": " + e.reason
	}
	if e.err != nil {
		msg += ": " + e.err.Error()
	}
	return msg
}

// HTTPStatus implements kivik's statusCoder interface.
func (e *statusError) HTTPStatus() int { return e.status }

func (e *statusError) Unwrap() error { return e.err }

func newError(status int, name, reason string) *statusError {
	return &statusError{status: status, name: name, reason: reason}
}

func errNotFound(reason string) error { return newError(http.StatusNotFound, "not_found", reason) }

func errConflict() error {
	return newError(http.StatusConflict, "conflict", "Document update conflict.")
}

func errBadRequest(format string, args ...any) error {
	return newError(http.StatusBadRequest, "bad_request", fmt.Sprintf(format, args...))
}

func errQueryParse(format string, args ...any) error {
	return newError(http.StatusBadRequest, "query_parse_error", fmt.Sprintf(format, args...))
}

func errNoDB(name string) error {
	return newError(http.StatusNotFound, "not_found", fmt.Sprintf("Database %q does not exist.", name))
}

func errNotImplemented(what string) error {
	return newError(http.StatusNotImplemented, "not_implemented", what+" is not supported by the brisk-embedded driver")
}

// errInternal wraps a storage failure (bbolt, JSON) as a 500.
func errInternal(context string, err error) error {
	var se *statusError
	if errors.As(err, &se) {
		return fmt.Errorf("%s: %w", context, err)
	}
	return &statusError{status: http.StatusInternalServerError, name: "internal_error", reason: context, err: err}
}

// isStatus reports whether err carries a statusError, storing it in target.
func isStatus(err error, target **statusError) bool { return errors.As(err, target) }
