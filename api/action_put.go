package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// ActionPut is a decoded and validated body of PUT .../actions/{name}.
// Nil pointers and nil slices mean "not given".
type ActionPut struct {
	Exec           *Exec
	Parameters     KeyValues
	Limits         *LimitsPut
	Version        *string
	Publish        *bool
	Annotations    KeyValues
	DelAnnotations []string
}

// LimitsPut holds the limits a PUT gives; nil means "keep or default".
type LimitsPut struct {
	Timeout, Memory, Logs, Concurrency *int
}

// Apply overlays the given fields on base.
func (l *LimitsPut) Apply(base ActionLimits) ActionLimits {
	if l == nil {
		return base
	}
	if l.Timeout != nil {
		base.Timeout = *l.Timeout
	}
	if l.Memory != nil {
		base.Memory = *l.Memory
	}
	if l.Logs != nil {
		base.Logs = *l.Logs
	}
	if l.Concurrency != nil {
		base.Concurrency = *l.Concurrency
	}
	return base
}

var base64RE = regexp.MustCompile(`^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)$`)

// LooksBinary is upstream's rule for exec.binary: trimmed code non-empty,
// length a multiple of 4 and entirely base64.
func LooksBinary(code string) bool {
	t := strings.TrimSpace(code)
	return t != "" && len(t)%4 == 0 && base64RE.MatchString(t)
}

// DecodeActionPut decodes and validates a PUT body against the manifest and limits.
func DecodeActionPut(body []byte, m *Manifest, lim Limits) (*ActionPut, error) {
	fields := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &fields); err != nil {
			return nil, Malformed(describeJSONError(err))
		}
	}
	p := &ActionPut{}
	if raw, ok := fields["exec"]; ok && !isNull(raw) {
		e, err := decodeExec(raw, m, lim)
		if err != nil {
			return nil, err
		}
		p.Exec = e
	}
	var err error
	if p.Parameters, err = decodeKeyValues(fields, "parameters", lim.MaxParameterBytes); err != nil {
		return nil, err
	}
	if p.Annotations, err = decodeKeyValues(fields, "annotations", lim.MaxParameterBytes); err != nil {
		return nil, err
	}
	if raw, ok := fields["limits"]; ok && !isNull(raw) {
		if p.Limits, err = decodeLimits(raw); err != nil {
			return nil, err
		}
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
	if raw, ok := fields["delAnnotations"]; ok && !isNull(raw) {
		if json.Unmarshal(raw, &p.DelAnnotations) != nil {
			return nil, Malformed("'delAnnotations' must be an array of strings")
		}
	}
	return p, nil
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

func decodeExec(raw json.RawMessage, m *Manifest, lim Limits) (*Exec, error) {
	var f map[string]json.RawMessage
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, Malformed("'exec' must be an object")
	}
	var kind string
	if json.Unmarshal(f["kind"], &kind) != nil {
		return nil, Malformed("'kind' must be a string defined in 'exec'")
	}
	kind = strings.ToLower(strings.TrimSpace(kind))
	if kind == SequenceKind {
		return decodeSequenceExec(f)
	}
	rt, ok := m.Resolve(kind)
	if !ok {
		return nil, m.UnsupportedKind(kind)
	}
	if rt.Deprecated {
		return nil, BadRequest("The '%s' runtime is no longer supported. You may read and delete but not update or invoke this action.", rt.Kind)
	}
	e := &Exec{Kind: rt.Kind}
	if rawImage, ok := f["image"]; ok && !isNull(rawImage) && rt.Kind == BlackboxKind {
		if json.Unmarshal(rawImage, &e.Image) != nil {
			return nil, Malformed(fmt.Sprintf("'image' must be a string defined in 'exec' for '%s' actions", rt.Kind))
		}
	}
	if rawCode, ok := f["code"]; e.Image != "" && (!ok || isNull(rawCode)) {
		// An image of its own and no code (wsk action create --docker IMG): as
		// upstream, the image is the action.
		return e, nil
	}
	var code string
	if json.Unmarshal(f["code"], &code) != nil {
		return nil, Malformed(fmt.Sprintf("'code' must be a string defined in 'exec' for '%s' actions", rt.Kind))
	}
	if len(code) > lim.MaxExecBytes {
		return nil, Errorf(http.StatusRequestEntityTooLarge, "exec larger than allowed: %d > %d bytes.", len(code), lim.MaxExecBytes)
	}
	if rawMain, ok := f["main"]; ok && !isNull(rawMain) {
		if json.Unmarshal(rawMain, &e.Main) != nil {
			return nil, Malformed(fmt.Sprintf("'main' must be a string defined in 'exec' for '%s' actions", rt.Kind))
		}
	}
	if rt.RequireMain && e.Main == "" {
		return nil, Malformed(fmt.Sprintf("'main' must be a string defined in 'exec' for '%s' actions", rt.Kind))
	}
	e.Binary = LooksBinary(code)
	if e.Binary {
		code = strings.TrimSpace(code)
	}
	e.Code = &code
	return e, nil
}

// SequenceKind is the exec kind of a sequence action.
const SequenceKind = "sequence"

// BlackboxKind is the exec kind of an action that is a container image.
const BlackboxKind = "blackbox"

// MsgMalformedFQN is upstream's message for a name without a namespace.
const MsgMalformedFQN = "The fully qualified name of the entity must contain at least the namespace and the name of the entity."

// decodeSequenceExec reads a sequence exec: components are entity paths
// ("/ns/[pkg/]action", "_" allowed as namespace) or {"path","name"}
// objects, kept in the normalized form "/ns/[pkg/]action". Whether they
// exist is checked by the controller.
func decodeSequenceExec(f map[string]json.RawMessage) (*Exec, error) {
	raw, ok := f["components"]
	if !ok {
		return nil, Malformed("'components' must be defined for sequence kind")
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil || items == nil {
		return nil, Malformed("'components' must be an array")
	}
	e := &Exec{Kind: SequenceKind, Components: make([]string, 0, len(items))}
	for _, it := range items {
		var path string
		if json.Unmarshal(it, &path) != nil {
			var obj struct {
				Path *string `json:"path"`
				Name *string `json:"name"`
			}
			if json.Unmarshal(it, &obj) != nil || obj.Path == nil || obj.Name == nil {
				return nil, Malformed("fully qualified name malformed")
			}
			path = *obj.Path + "/" + *obj.Name
		}
		var parts []string
		for _, p := range strings.Split(path, "/") {
			if p == "" {
				continue
			}
			if !ValidName(p) {
				return nil, Malformed(MsgIllegalName)
			}
			parts = append(parts, p)
		}
		if len(parts) < 2 {
			return nil, Malformed(MsgMalformedFQN)
		}
		e.Components = append(e.Components, "/"+strings.Join(parts, "/"))
	}
	return e, nil
}

// MarshalJSON writes upstream's exec shapes: a sequence is only
// {"kind","components"}; every other kind is written field by field.
func (e Exec) MarshalJSON() ([]byte, error) {
	if e.Kind == SequenceKind {
		comps := e.Components
		if comps == nil {
			comps = []string{}
		}
		return json.Marshal(struct {
			Kind       string   `json:"kind"`
			Components []string `json:"components"`
		}{e.Kind, comps})
	}
	type plain Exec
	return json.Marshal(plain(e))
}

func decodeKeyValues(fields map[string]json.RawMessage, name string, maxBytes int) (KeyValues, error) {
	raw, ok := fields[name]
	if !ok || isNull(raw) {
		return nil, nil
	}
	if len(raw) > maxBytes {
		return nil, Errorf(http.StatusRequestEntityTooLarge, "%s larger than allowed: %d > %d bytes.", name, len(raw), maxBytes)
	}
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, Malformed(fmt.Sprintf("'%s' must be an array of key-value pairs", name))
	}
	kv := make(KeyValues, 0, len(items))
	for _, it := range items {
		var p KeyValue
		if json.Unmarshal(it["key"], &p.Key) != nil {
			return nil, Malformed(fmt.Sprintf("'%s' entries must have a string 'key'", name))
		}
		p.Value = it["value"]
		if p.Value == nil {
			p.Value = json.RawMessage("null")
		}
		if rawInit, ok := it["init"]; ok && !isNull(rawInit) {
			if json.Unmarshal(rawInit, &p.Init) != nil {
				return nil, Malformed(fmt.Sprintf("'%s' entry 'init' must be a boolean", name))
			}
		}
		kv = append(kv, p)
	}
	return kv, nil
}

func decodeLimits(raw json.RawMessage) (*LimitsPut, error) {
	var f map[string]json.RawMessage
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, Malformed("'limits' must be an object")
	}
	l := &LimitsPut{}
	for name, dst := range map[string]**int{"timeout": &l.Timeout, "memory": &l.Memory, "logs": &l.Logs, "concurrency": &l.Concurrency} {
		v, ok := f[name]
		if !ok || isNull(v) {
			continue
		}
		var n float64
		if json.Unmarshal(v, &n) != nil || n != float64(int(n)) {
			field := map[string]string{"timeout": "time", "memory": "memory", "logs": "log", "concurrency": "intra concurrency"}[name]
			return nil, Malformed(field + " limit must be whole number")
		}
		i := int(n)
		*dst = &i
	}
	return l, nil
}

// describeJSONError turns a decoder error into a short, client-readable detail.
func describeJSONError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case asErr(err, &se):
		return fmt.Sprintf("invalid JSON at offset %d: %s", se.Offset, se.Error())
	case asErr(err, &te):
		return fmt.Sprintf("expected a JSON object, got %s", te.Value)
	default:
		return err.Error()
	}
}
