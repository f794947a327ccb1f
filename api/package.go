package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
)

// ReservedPackageName is the one name a package may not take: web action
// URLs use it for "no package".
const ReservedPackageName = "default"

// Upstream's package messages.
const (
	MsgBindingMissing     = "Binding references a package that does not exist."
	MsgPackageNotBindable = "Resource is a package and cannot be converted into a binding."
	MsgBindingToBinding   = "Cannot bind to another package binding."
	MsgBindingNotPackage  = "Cannot bind to a resource that is not a package."
)

// PackageNameReserved is the 400 for PUT of a package named "default".
func PackageNameReserved(name string) *Error {
	return BadRequest("Package name '%s' is reserved.", name)
}

// CircularBinding is the 422 for a binding that refers to itself.
func CircularBinding(name string) *Error {
	return Errorf(http.StatusUnprocessableEntity, "Package binding '%s' contains a circular reference.", name)
}

// PackageNotEmpty is the 409 for DELETE of a package that still holds n actions.
func PackageNotEmpty(n int) *Error {
	noun := "entities"
	if n == 1 {
		noun = "entity"
	}
	return Errorf(http.StatusConflict, "Package not empty (contains %d %s). Set force param or delete package contents.", n, noun)
}

// Binding names the package a binding refers to. The zero value means "not
// a binding" and encodes as {}, as upstream stores plain packages.
type Binding struct {
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
}

// IsZero reports whether b is "no binding".
func (b Binding) IsZero() bool { return b.Namespace == "" && b.Name == "" }

// DocID is the bound package's document id "ns/name".
func (b Binding) DocID() string { return b.Namespace + "/" + b.Name }

// Package is a package or a package binding as the API returns it.
type Package struct {
	Namespace   string    `json:"namespace"`
	Name        string    `json:"name"`
	Version     string    `json:"version"`
	Publish     bool      `json:"publish"`
	Binding     Binding   `json:"binding"`
	Parameters  KeyValues `json:"parameters"`
	Annotations KeyValues `json:"annotations"`
	Updated     int64     `json:"updated"`
}

// IsBinding reports whether the package is a binding.
func (p *Package) IsBinding() bool { return !p.Binding.IsZero() }

// Path is the entity path of the package's contents: "ns/name".
func (p *Package) Path() string { return p.Namespace + "/" + p.Name }

// Normalized fills empty lists so responses carry [] rather than null.
func (p Package) Normalized() Package {
	if p.Parameters == nil {
		p.Parameters = KeyValues{}
	}
	if p.Annotations == nil {
		p.Annotations = KeyValues{}
	}
	return p
}

// PackageDoc is a package as stored: upstream's document shape.
type PackageDoc struct {
	ID         string `json:"_id"`
	Rev        string `json:"_rev,omitempty"`
	EntityType string `json:"entityType"`
	Package
}

// PackageAction is one action (or feed) listed in a GET package response.
type PackageAction struct {
	Name        string    `json:"name"`
	Version     string    `json:"version"`
	Annotations KeyValues `json:"annotations"`
}

// PackageView is a package with its actions and feeds (actions with a
// "feed" annotation, whatever its value), the GET package response.
type PackageView struct {
	Package
	Actions []PackageAction `json:"actions"`
	Feeds   []PackageAction `json:"feeds"`
}

// NewPackageView splits the package's actions into actions and feeds.
func NewPackageView(p Package, actions []ActionSummary) PackageView {
	v := PackageView{Package: p.Normalized(), Actions: []PackageAction{}, Feeds: []PackageAction{}}
	for _, a := range actions {
		pa := PackageAction{Name: a.Name, Version: a.Version, Annotations: a.Annotations}
		if pa.Annotations == nil {
			pa.Annotations = KeyValues{}
		}
		if a.Annotations.Has("feed") {
			v.Feeds = append(v.Feeds, pa)
		} else {
			v.Actions = append(v.Actions, pa)
		}
	}
	return v
}

// PackagePut is a decoded and validated body of PUT .../packages/{name}.
// Nil pointers and nil slices mean "not given".
type PackagePut struct {
	Binding     *Binding
	Parameters  KeyValues
	Version     *string
	Publish     *bool
	Annotations KeyValues
}

// DecodePackagePut decodes and validates a package PUT body. A binding of
// {} (or null) is no binding; otherwise it needs a valid namespace ("_"
// allowed) and name.
func DecodePackagePut(body []byte, lim Limits) (*PackagePut, error) {
	fields := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &fields); err != nil {
			return nil, Malformed(describeJSONError(err))
		}
	}
	p := &PackagePut{}
	if raw, ok := fields["binding"]; ok && !isNull(raw) {
		b, err := decodeBinding(raw)
		if err != nil {
			return nil, err
		}
		if !b.IsZero() {
			p.Binding = &b
		}
	}
	var err error
	if p.Parameters, err = decodeKeyValues(fields, "parameters", lim.MaxParameterBytes); err != nil {
		return nil, err
	}
	if p.Annotations, err = decodeKeyValues(fields, "annotations", lim.MaxParameterBytes); err != nil {
		return nil, err
	}
	if raw, ok := fields["version"]; ok && !isNull(raw) {
		var v string
		if json.Unmarshal(raw, &v) != nil || !NormalizeVersion(&v) {
			return nil, Malformed("version must be a string of the form major.minor.patch")
		}
		p.Version = &v
	}
	if raw, ok := fields["publish"]; ok && !isNull(raw) {
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return nil, Malformed("'publish' must be a boolean")
		}
		p.Publish = &b
	}
	return p, nil
}

func decodeBinding(raw json.RawMessage) (Binding, error) {
	var f map[string]json.RawMessage
	if err := json.Unmarshal(raw, &f); err != nil {
		return Binding{}, Malformed("'binding' must be an object with a 'namespace' and a 'name'")
	}
	if len(f) == 0 {
		return Binding{}, nil
	}
	var b Binding
	for field, dst := range map[string]*string{"namespace": &b.Namespace, "name": &b.Name} {
		v, ok := f[field]
		if !ok || json.Unmarshal(v, dst) != nil {
			return Binding{}, Malformed(fmt.Sprintf("'binding' must have a string '%s'", field))
		}
		if !ValidName(*dst) {
			return Binding{}, Malformed(fmt.Sprintf("'binding' %s: %s", field, MsgIllegalName))
		}
	}
	return b, nil
}
