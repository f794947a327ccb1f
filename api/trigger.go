package api

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Rule states, as stored in a trigger's rules map.
const (
	RuleActive   = "active"
	RuleInactive = "inactive"
)

// MsgFeedInvalid is upstream's 400 for a feed annotation that is not an
// entity path.
const MsgFeedInvalid = "Feed name is not valid"

// EntityRef is a fully qualified entity name as rules and triggers store
// it: {"path":"ns" or "ns/pkg","name":"x"}.
type EntityRef struct {
	Path string `json:"path"`
	Name string `json:"name"`
}

// RefOf is the stored form of a fully qualified name.
func RefOf(f FullyQualifiedName) EntityRef { return EntityRef{Path: f.Path(), Name: f.Name} }

// FQN is the reference as a fully qualified name.
func (r EntityRef) FQN() FullyQualifiedName {
	ns, pkg, _ := strings.Cut(r.Path, "/")
	return FullyQualifiedName{Namespace: ns, Package: pkg, Name: r.Name}
}

// String is upstream's asString: "path/name", without a leading slash.
func (r EntityRef) String() string { return r.Path + "/" + r.Name }

// ReducedRule is a rule as its trigger records it: the action to start and
// the rule's status.
type ReducedRule struct {
	Action EntityRef `json:"action"`
	Status string    `json:"status"`
}

// TriggerLimits is a trigger's limits: upstream has none and stores {}.
type TriggerLimits struct{}

// Trigger is a trigger as the API returns it. Rules is keyed by the rule's
// "ns/name"; it is absent until a rule referred to the trigger and stays
// (possibly empty) afterwards.
type Trigger struct {
	Namespace   string                 `json:"namespace"`
	Name        string                 `json:"name"`
	Version     string                 `json:"version"`
	Publish     bool                   `json:"publish"`
	Parameters  KeyValues              `json:"parameters"`
	Limits      TriggerLimits          `json:"limits"`
	Annotations KeyValues              `json:"annotations"`
	Rules       map[string]ReducedRule `json:"rules,omitzero"`
	Updated     int64                  `json:"updated"`
}

// FQN is the trigger's fully qualified name.
func (t *Trigger) FQN() FullyQualifiedName {
	return FullyQualifiedName{Namespace: t.Namespace, Name: t.Name}
}

// Normalized fills empty lists so responses carry [] rather than null.
func (t Trigger) Normalized() Trigger {
	if t.Parameters == nil {
		t.Parameters = KeyValues{}
	}
	if t.Annotations == nil {
		t.Annotations = KeyValues{}
	}
	return t
}

// HasActiveRule reports whether any rule of the trigger is active.
func (t *Trigger) HasActiveRule() bool {
	for _, r := range t.Rules {
		if r.Status == RuleActive {
			return true
		}
	}
	return false
}

// TriggerDoc is a trigger as stored: upstream's document shape.
type TriggerDoc struct {
	ID         string `json:"_id"`
	Rev        string `json:"_rev,omitempty"`
	EntityType string `json:"entityType"`
	Trigger
}

// TriggerPut is a decoded and validated body of PUT .../triggers/{name}.
// Nil pointers and nil slices mean "not given"; rules cannot be set.
type TriggerPut struct {
	Parameters  KeyValues
	Version     *string
	Publish     *bool
	Annotations KeyValues
}

// DecodeTriggerPut decodes and validates a trigger PUT body. Unknown fields
// are ignored, as upstream does.
func DecodeTriggerPut(body []byte, lim Limits) (*TriggerPut, error) {
	fields := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &fields); err != nil {
			return nil, Malformed(describeJSONError(err))
		}
	}
	p := &TriggerPut{}
	var err error
	if p.Parameters, err = decodeKeyValues(fields, "parameters", lim.MaxParameterBytes); err != nil {
		return nil, err
	}
	if p.Annotations, err = decodeKeyValues(fields, "annotations", lim.MaxParameterBytes); err != nil {
		return nil, err
	}
	if raw, ok := fields["limits"]; ok && !isNull(raw) {
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return nil, Malformed("'limits' must be an object")
		}
	}
	if p.Version, p.Publish, err = decodeVersionPublish(fields); err != nil {
		return nil, err
	}
	return p, nil
}

// decodeVersionPublish reads the optional "version" and "publish" fields.
func decodeVersionPublish(fields map[string]json.RawMessage) (*string, *bool, error) {
	var (
		version *string
		publish *bool
	)
	if raw, ok := fields["version"]; ok && !isNull(raw) {
		var v string
		if json.Unmarshal(raw, &v) != nil || !NormalizeVersion(&v) {
			return nil, nil, Malformed("version must be a string of the form major.minor.patch")
		}
		version = &v
	}
	if raw, ok := fields["publish"]; ok && !isNull(raw) {
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return nil, nil, Malformed("'publish' must be a boolean")
		}
		publish = &b
	}
	return version, publish, nil
}

// CheckFeedAnnotation validates a trigger's "feed" annotation, if any: it
// must be a string that parses as an entity path (its existence is not
// checked: clients create the trigger before they call the feed).
func CheckFeedAnnotation(annotations KeyValues) error {
	raw := annotations.Get("feed")
	if raw == nil {
		return nil
	}
	var feed string
	if json.Unmarshal(raw, &feed) != nil || !ValidEntityPath(feed) {
		return BadRequest(MsgFeedInvalid)
	}
	return nil
}

// ValidEntityPath reports whether s is an entity path: one or more valid
// names separated by "/" (empty segments, as from a leading slash, are
// ignored).
func ValidEntityPath(s string) bool {
	n := 0
	for _, seg := range strings.Split(s, "/") {
		if seg == "" {
			continue
		}
		if !ValidName(seg) {
			return false
		}
		n++
	}
	return n > 0
}

// TriggerActivationLog is one line of a trigger activation's logs: what
// became of one rule of the trigger.
type TriggerActivationLog struct {
	StatusCode   int    `json:"statusCode"`
	Success      bool   `json:"success"`
	ActivationID string `json:"activationId,omitempty"`
	Error        string `json:"error,omitempty"`
	Rule         string `json:"rule"`
	Action       string `json:"action"`
}

// InactiveRuleMessage is the log error for a rule that did not run.
func InactiveRuleMessage(rule, action string) string {
	return "Rule '" + rule + "' is inactive, action '" + action + "' was not activated."
}
