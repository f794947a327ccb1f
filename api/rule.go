package api

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Upstream's rule messages.
const (
	MsgRuleIncomplete      = "rule requires a valid trigger and a valid action"
	MsgRuleTriggerRequired = "Only rules with existing triggers can be activated"
)

// Rule is a rule as stored and listed: the trigger it subscribes to and the
// action it starts, both fully qualified. A rule holds no status: the
// trigger's rules map does.
type Rule struct {
	Namespace   string    `json:"namespace"`
	Name        string    `json:"name"`
	Version     string    `json:"version"`
	Publish     bool      `json:"publish"`
	Annotations KeyValues `json:"annotations"`
	Trigger     EntityRef `json:"trigger"`
	Action      EntityRef `json:"action"`
	Updated     int64     `json:"updated"`
}

// FQN is the rule's fully qualified name.
func (r *Rule) FQN() FullyQualifiedName {
	return FullyQualifiedName{Namespace: r.Namespace, Name: r.Name}
}

// Normalized fills empty lists so responses carry [] rather than null.
func (r Rule) Normalized() Rule {
	if r.Annotations == nil {
		r.Annotations = KeyValues{}
	}
	return r
}

// UnmarshalJSON reads a rule, upgrading upstream's old schema where trigger
// and action were names relative to the rule's namespace.
func (r *Rule) UnmarshalJSON(b []byte) error {
	type plain Rule
	var raw struct {
		plain
		Trigger json.RawMessage `json:"trigger"`
		Action  json.RawMessage `json:"action"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*r = Rule(raw.plain)
	var err error
	if r.Trigger, err = storedRef(raw.Trigger, r.Namespace); err != nil {
		return err
	}
	r.Action, err = storedRef(raw.Action, r.Namespace)
	return err
}

// storedRef reads a stored reference: {"path","name"}, "ns/[pkg/]name", or
// (old schema) a bare name in namespace ns.
func storedRef(raw json.RawMessage, ns string) (EntityRef, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if i := strings.LastIndex(s, "/"); i >= 0 {
			return EntityRef{Path: strings.Trim(s[:i], "/"), Name: s[i+1:]}, nil
		}
		return EntityRef{Path: ns, Name: s}, nil
	}
	var ref EntityRef
	if err := json.Unmarshal(raw, &ref); err != nil {
		return EntityRef{}, err
	}
	return ref, nil
}

// RuleView is a rule as GET, PUT and DELETE return it: with its status,
// read from the trigger.
type RuleView struct {
	Namespace   string    `json:"namespace"`
	Name        string    `json:"name"`
	Version     string    `json:"version"`
	Publish     bool      `json:"publish"`
	Annotations KeyValues `json:"annotations"`
	Status      string    `json:"status"`
	Trigger     EntityRef `json:"trigger"`
	Action      EntityRef `json:"action"`
	Updated     int64     `json:"updated"`
}

// WithStatus is the rule's response form.
func (r Rule) WithStatus(status string) RuleView {
	r = r.Normalized()
	return RuleView{Namespace: r.Namespace, Name: r.Name, Version: r.Version, Publish: r.Publish,
		Annotations: r.Annotations, Status: status, Trigger: r.Trigger, Action: r.Action, Updated: r.Updated}
}

// RuleDoc is a rule as stored: upstream's document shape.
type RuleDoc struct {
	ID         string `json:"_id"`
	Rev        string `json:"_rev,omitempty"`
	EntityType string `json:"entityType"`
	Rule
}

// UnmarshalJSON reads the document (the embedded Rule's own UnmarshalJSON
// would otherwise swallow the whole document).
func (d *RuleDoc) UnmarshalJSON(b []byte) error {
	var meta struct {
		ID         string `json:"_id"`
		Rev        string `json:"_rev"`
		EntityType string `json:"entityType"`
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return err
	}
	if err := json.Unmarshal(b, &d.Rule); err != nil {
		return err
	}
	d.ID, d.Rev, d.EntityType = meta.ID, meta.Rev, meta.EntityType
	return nil
}

// RulePut is a decoded and validated body of PUT .../rules/{name}. Trigger
// and Action are fully qualified with "_" already resolved; nil means "not
// given".
type RulePut struct {
	Trigger     *FullyQualifiedName
	Action      *FullyQualifiedName
	Version     *string
	Publish     *bool
	Annotations KeyValues
}

// DecodeRulePut decodes and validates a rule PUT body; "_" as namespace of
// the trigger or action means ns.
func DecodeRulePut(body []byte, ns string, lim Limits) (*RulePut, error) {
	fields := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &fields); err != nil {
			return nil, Malformed(describeJSONError(err))
		}
	}
	p := &RulePut{}
	var err error
	for name, dst := range map[string]**FullyQualifiedName{"trigger": &p.Trigger, "action": &p.Action} {
		raw, ok := fields[name]
		if !ok || isNull(raw) {
			continue
		}
		f, err := decodeEntityRef(raw, ns)
		if err != nil {
			return nil, err
		}
		*dst = &f
	}
	if p.Annotations, err = decodeKeyValues(fields, "annotations", lim.MaxParameterBytes); err != nil {
		return nil, err
	}
	if p.Version, p.Publish, err = decodeVersionPublish(fields); err != nil {
		return nil, err
	}
	return p, nil
}

// decodeEntityRef reads a fully qualified name given as an entity path
// string ("/ns/name", "ns/pkg/name"; the leading slash is optional but a
// namespace is required) or as {"path","name"}.
func decodeEntityRef(raw json.RawMessage, ns string) (FullyQualifiedName, error) {
	var path string
	if json.Unmarshal(raw, &path) != nil {
		var obj struct {
			Path *string `json:"path"`
			Name *string `json:"name"`
		}
		if json.Unmarshal(raw, &obj) != nil || obj.Path == nil || obj.Name == nil {
			return FullyQualifiedName{}, Malformed("fully qualified name malformed")
		}
		path = *obj.Path + "/" + *obj.Name
	}
	var parts []string
	for _, seg := range strings.Split(path, "/") {
		if seg == "" {
			continue
		}
		if !ValidName(seg) {
			return FullyQualifiedName{}, Malformed(MsgIllegalName)
		}
		parts = append(parts, seg)
	}
	if len(parts) < 2 {
		return FullyQualifiedName{}, Malformed("requirement failed: " + MsgMalformedFQN)
	}
	if parts[0] == "_" {
		parts[0] = ns
	}
	f := FullyQualifiedName{Namespace: parts[0], Name: parts[len(parts)-1]}
	if len(parts) > 2 {
		f.Package = strings.Join(parts[1:len(parts)-1], "/")
	}
	return f, nil
}

// DecodeRuleStatus reads the body of POST .../rules/{name}:
// {"status":"active"|"inactive"}; other fields are ignored.
func DecodeRuleStatus(body []byte) (string, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return "", Malformed("Object expected")
	}
	raw, ok := fields["status"]
	if !ok {
		return "", Malformed("key not found: status")
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", Malformed("status malformed")
	}
	if s != RuleActive && s != RuleInactive {
		return "", Malformed("requirement failed: " + s + " is not a recognized rule state")
	}
	return s, nil
}
