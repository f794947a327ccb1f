package api

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// MaxNameLength is the longest entity name or namespace.
const MaxNameLength = 256

var nameRE = regexp.MustCompile(`\A([\w]|[\w][\w@ .&-]{0,254}[\w@.&-])\z`)

// ValidName reports whether s is a valid entity name (one path segment).
func ValidName(s string) bool { return len(s) <= MaxNameLength && nameRE.MatchString(s) }

// CheckName validates an entity name from a path segment with upstream's messages.
func CheckName(s string) error {
	if len(s) > MaxNameLength {
		return BadRequest("Name segement longer than allowed: %d > %d.", len(s), MaxNameLength)
	}
	if !nameRE.MatchString(s) {
		return &Error{Status: http.StatusBadRequest, Message: MsgIllegalName}
	}
	return nil
}

// CheckNamespace validates a namespace path segment.
func CheckNamespace(s string) error {
	if len(s) > MaxNameLength {
		return BadRequest("Namespace longer than allowed: %d > %d.", len(s), MaxNameLength)
	}
	if !nameRE.MatchString(s) {
		return &Error{Status: http.StatusBadRequest, Message: MsgIllegalNamespace}
	}
	return nil
}

// FullyQualifiedName is a namespace, an optional package and a name.
type FullyQualifiedName struct {
	Namespace string
	Package   string
	Name      string
}

// Path is the entity path the entity lives in: "ns" or "ns/pkg".
func (f FullyQualifiedName) Path() string {
	if f.Package == "" {
		return f.Namespace
	}
	return f.Namespace + "/" + f.Package
}

// DocID is the store document id: "ns/name" or "ns/pkg/name".
func (f FullyQualifiedName) DocID() string { return f.Path() + "/" + f.Name }

// String is "/ns/[pkg/]name", the form clients print.
func (f FullyQualifiedName) String() string { return "/" + f.DocID() }

// ParseFQN parses "/ns/name", "/ns/pkg/name" (a leading "/" is required when
// requireNamespace is set) or, without namespace, "name" and "pkg/name"
// relative to defaultNS. "_" as namespace means defaultNS.
func ParseFQN(s, defaultNS string) (FullyQualifiedName, error) {
	var parts []string
	if strings.HasPrefix(s, "/") {
		parts = strings.Split(s[1:], "/")
		if len(parts) < 2 || len(parts) > 3 {
			return FullyQualifiedName{}, fmt.Errorf("%q is not a fully qualified name", s)
		}
	} else {
		rel := strings.Split(s, "/")
		if len(rel) > 2 {
			return FullyQualifiedName{}, fmt.Errorf("%q is not a valid name", s)
		}
		parts = append([]string{defaultNS}, rel...)
	}
	for _, p := range parts {
		if !ValidName(p) {
			return FullyQualifiedName{}, fmt.Errorf("%q: %s", s, MsgIllegalName)
		}
	}
	if parts[0] == "_" {
		parts[0] = defaultNS
	}
	f := FullyQualifiedName{Namespace: parts[0], Name: parts[len(parts)-1]}
	if len(parts) == 3 {
		f.Package = parts[1]
	}
	return f, nil
}

// NewActivationID returns 32 random lowercase hex characters.
func NewActivationID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NewTransactionID returns 32 random alphanumerics.
func NewTransactionID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var b [32]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}

var activationIDRE = regexp.MustCompile(`\A[0-9a-f]{32}\z`)

// CheckActivationID validates an activation id with upstream's messages.
func CheckActivationID(s string) error {
	if len(s) != 32 {
		return BadRequest("Activation id length is %d but must be 32.", len(s))
	}
	if !activationIDRE.MatchString(s) {
		return BadRequest(MsgActivationIDInvalid)
	}
	return nil
}
