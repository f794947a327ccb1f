// Package api holds Brisk's OpenWhisk-compatible entity types and their JSON,
// name and payload validation, limits, the runtime manifest, the error model
// with upstream's exact messages, and the OpenAPI document served at
// /api/v1/api-docs.
package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Error is a client-visible error: an HTTP status and upstream's message.
// It is created in the domain and rendered as {"error","code"} at the API edge.
type Error struct {
	Status  int
	Message string
	// Err is an optional cause, kept for logs and errors.Is.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %v", e.Status, e.Message, e.Err)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an Error with a formatted message.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// AsError finds an *Error in err's chain.
func AsError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// Upstream's exact messages.
const (
	MsgNotFound            = "The requested resource does not exist."
	MsgRouteNotFound       = "The requested resource could not be found."
	MsgNotAuthorized       = "The supplied authentication is not authorized to access this resource."
	MsgAuthRequired        = "The resource requires authentication, which was not supplied with the request"
	MsgAuthInvalid         = "The supplied authentication is invalid"
	MsgBadRequest          = "The request contains bad syntax or cannot be fulfilled."
	MsgConflict            = "The request could not be processed because of conflict in the request, such as an edit conflict."
	MsgTooLarge            = "The request content is larger than the server is willing or able to process."
	MsgTooManyRequests     = "The user has sent too many requests in a given amount of time."
	MsgInternal            = "There was an internal server error."
	MsgBadGateway          = "The server was acting as a gateway or proxy and received an invalid response from the upstream server."
	MsgUnavailable         = "The server is currently unavailable (because it is overloaded or down for maintenance)."
	MsgMalformedPrefix     = "The request content was malformed:\n"
	MsgExists              = "resource already exists"
	MsgConcurrentMod       = "Concurrent modification to resource detected."
	MsgWrongCollection     = "Resource by this name exists but is not in this collection."
	MsgCorrupted           = "Resource is corrupted and cannot be read."
	MsgIllegalName         = "The name of the entity contains illegal characters."
	MsgIllegalNamespace    = "The namespace contains illegal characters."
	MsgExecUndefined       = "exec undefined"
	MsgActivationIDInvalid = "The activation id is not valid."
	MsgDocsWithCount       = "The parameter 'docs' is not permitted with 'count'."
	MsgBindingOp           = "Operation not permitted on package binding."
	MsgReservedParams      = "Request defines parameters that are not allowed (e.g., reserved properties)."
	MsgInvokeTimeoutQuery  = "The query parameter 'timeout' was malformed:\nTimeout must be number of milliseconds up to 60000."
)

// Common errors.
var (
	ErrNotFound     = &Error{Status: http.StatusNotFound, Message: MsgNotFound}
	ErrAuthRequired = &Error{Status: http.StatusUnauthorized, Message: MsgAuthRequired}
	ErrAuthInvalid  = &Error{Status: http.StatusUnauthorized, Message: MsgAuthInvalid}
	ErrForbidden    = &Error{Status: http.StatusForbidden, Message: MsgNotAuthorized}
	ErrExists       = &Error{Status: http.StatusConflict, Message: MsgExists}
	ErrConcurrent   = &Error{Status: http.StatusConflict, Message: MsgConcurrentMod}
	ErrWrongColl    = &Error{Status: http.StatusConflict, Message: MsgWrongCollection}
	ErrUnavailable  = &Error{Status: http.StatusServiceUnavailable, Message: MsgUnavailable}
)

// Malformed is a 400 for a request body that does not decode or validate.
func Malformed(detail string) *Error {
	return &Error{Status: http.StatusBadRequest, Message: MsgMalformedPrefix + detail}
}

// NotFoundNamed is upstream's 404 naming the resource ("ns/name"), which its
// controller answers where the entitlement check itself finds the entity
// missing (a GET of the owner's package).
func NotFoundNamed(resource string, cause error) *Error {
	return &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("The requested resource '%s' does not exist.", resource), Err: cause}
}

// BadRequest is a 400 with a message of its own.
func BadRequest(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, format, args...)
}

// Forbidden is upstream's entitlement 403 naming the resource.
func Forbidden(resource string) *Error {
	return Errorf(http.StatusForbidden, "The supplied authentication is not authorized to access '%s'.", resource)
}

// DefaultMessage is upstream's text for a bare status.
func DefaultMessage(status int) string {
	switch status {
	case http.StatusBadRequest:
		return MsgBadRequest
	case http.StatusUnauthorized:
		return "Authentication is possible but has failed or not yet been provided."
	case http.StatusForbidden:
		return MsgNotAuthorized
	case http.StatusNotFound:
		return MsgNotFound
	case http.StatusConflict:
		return MsgConflict
	case http.StatusRequestEntityTooLarge:
		return MsgTooLarge
	case http.StatusTooManyRequests:
		return MsgTooManyRequests
	case http.StatusBadGateway:
		return MsgBadGateway
	case http.StatusServiceUnavailable:
		return MsgUnavailable
	default:
		if status >= 500 {
			return MsgInternal
		}
		return http.StatusText(status)
	}
}

func asErr[T error](err error, target *T) bool { return errors.As(err, target) }

// MaxJSONDepth bounds how deeply a request's JSON may nest: deeper payloads
// could not be passed on to the action (Go's JSON encoder stops at 10,000
// levels, and the activation message wraps the payload in more).
const MaxJSONDepth = 1000

// CheckJSONDepth reports a 400 when b nests objects and arrays deeper than
// max, or holds a number no JSON parser can represent as a double (such as
// 1e999999: it could be neither stored nor passed on). It does not validate
// b otherwise (the decoder does).
func CheckJSONDepth(b []byte, max int) error {
	depth, inString, escaped := 0, false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > max {
				return Malformed(fmt.Sprintf("the JSON nests deeper than %d levels", max))
			}
		case c == '}' || c == ']':
			depth--
		case c == '-' || (c >= '0' && c <= '9'):
			j := i
			for j < len(b) && strings.IndexByte("+-.0123456789eE", b[j]) >= 0 {
				j++
			}
			if _, err := strconv.ParseFloat(string(b[i:j]), 64); errors.Is(err, strconv.ErrRange) {
				return Malformed(fmt.Sprintf("the number %.40s is out of range", b[i:j]))
			}
			i = j - 1
		}
	}
	return nil
}
