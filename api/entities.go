package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// KeyValue is one parameter or annotation: {"key":k,"value":v}. A parameter
// may carry "init": true (delivered to /init as environment, not to /run).
type KeyValue struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
	Init  bool            `json:"init,omitempty"`
}

// KeyValues is an ordered list of parameters or annotations.
type KeyValues []KeyValue

// Get returns the value for key, or nil.
func (kv KeyValues) Get(key string) json.RawMessage {
	for _, p := range kv {
		if p.Key == key {
			return p.Value
		}
	}
	return nil
}

// Truthy reports whether key is set to a truthy JSON value (true, non-zero
// number, non-empty string).
func (kv KeyValues) Truthy(key string) bool {
	v := bytes.TrimSpace(kv.Get(key))
	if len(v) == 0 {
		return false
	}
	var x any
	if json.Unmarshal(v, &x) != nil {
		return false
	}
	switch t := x.(type) {
	case bool:
		return t
	case float64:
		return t != 0
	case string:
		return t != ""
	default:
		return x != nil
	}
}

// Has reports whether key is present.
func (kv KeyValues) Has(key string) bool {
	for _, p := range kv {
		if p.Key == key {
			return true
		}
	}
	return false
}

// Set replaces or appends key.
func (kv KeyValues) Set(key string, value any) KeyValues {
	raw, _ := json.Marshal(value)
	for i, p := range kv {
		if p.Key == key {
			out := append(KeyValues(nil), kv...)
			out[i] = KeyValue{Key: key, Value: raw, Init: p.Init}
			return out
		}
	}
	return append(append(KeyValues(nil), kv...), KeyValue{Key: key, Value: raw})
}

// Merge returns kv overlaid with over (keys in over win), keeping order.
func (kv KeyValues) Merge(over KeyValues) KeyValues {
	out := make(KeyValues, 0, len(kv)+len(over))
	idx := map[string]int{}
	for _, p := range kv {
		if i, ok := idx[p.Key]; ok {
			out[i] = p
			continue
		}
		idx[p.Key] = len(out)
		out = append(out, p)
	}
	for _, p := range over {
		if i, ok := idx[p.Key]; ok {
			out[i] = p
			continue
		}
		idx[p.Key] = len(out)
		out = append(out, p)
	}
	return out
}

// Without returns kv minus the listed keys.
func (kv KeyValues) Without(keys []string) KeyValues {
	if len(keys) == 0 {
		return kv
	}
	drop := map[string]bool{}
	for _, k := range keys {
		drop[k] = true
	}
	out := KeyValues{}
	for _, p := range kv {
		if !drop[p.Key] {
			out = append(out, p)
		}
	}
	return out
}

// Exec is an action's executable part.
type Exec struct {
	Kind       string   `json:"kind"`
	Code       *string  `json:"code,omitempty"`
	Image      string   `json:"image,omitempty"`
	Components []string `json:"components,omitempty"`
	Main       string   `json:"main,omitempty"`
	Binary     bool     `json:"binary"`
}

// ActionLimits are an action's limits: timeout in ms, memory and logs in MB,
// concurrency in activations per container.
type ActionLimits struct {
	Timeout     int `json:"timeout"`
	Memory      int `json:"memory"`
	Logs        int `json:"logs"`
	Concurrency int `json:"concurrency"`
}

// Action is an action as the API returns it.
type Action struct {
	Namespace   string       `json:"namespace"`
	Name        string       `json:"name"`
	Version     string       `json:"version"`
	Publish     bool         `json:"publish"`
	Exec        Exec         `json:"exec"`
	Parameters  KeyValues    `json:"parameters"`
	Limits      ActionLimits `json:"limits"`
	Annotations KeyValues    `json:"annotations"`
	Updated     int64        `json:"updated"`
}

// FQN is the action's fully qualified name.
func (a *Action) FQN() FullyQualifiedName {
	ns, pkg, _ := strings.Cut(a.Namespace, "/")
	return FullyQualifiedName{Namespace: ns, Package: pkg, Name: a.Name}
}

// ActionDoc is an action as stored: upstream's document shape.
type ActionDoc struct {
	ID         string `json:"_id"`
	Rev        string `json:"_rev,omitempty"`
	EntityType string `json:"entityType"`
	Action
}

// ActionSummary is one entry of an action list.
type ActionSummary struct {
	Namespace   string       `json:"namespace"`
	Name        string       `json:"name"`
	Version     string       `json:"version"`
	Publish     bool         `json:"publish"`
	Annotations KeyValues    `json:"annotations"`
	Limits      ActionLimits `json:"limits"`
	Exec        struct {
		Binary bool `json:"binary"`
	} `json:"exec"`
	Updated int64 `json:"updated"`
}

// Summary is the list form of the action.
func (a *Action) Summary() ActionSummary {
	s := ActionSummary{Namespace: a.Namespace, Name: a.Name, Version: a.Version, Publish: a.Publish,
		Annotations: a.Annotations, Limits: a.Limits, Updated: a.Updated}
	s.Exec.Binary = a.Exec.Binary
	return s
}

// Activation status codes as stored.
const (
	StatusSuccess          = 0
	StatusApplicationError = 1
	StatusDeveloperError   = 2
	StatusWhiskError       = 3
)

// StatusName is the API name of a stored status code.
func StatusName(code int) string {
	switch code {
	case StatusSuccess:
		return "success"
	case StatusApplicationError:
		return "application error"
	case StatusDeveloperError:
		return "action developer error"
	default:
		return "whisk internal error"
	}
}

// ActivationResponse is an activation's outcome as stored.
type ActivationResponse struct {
	StatusCode int             `json:"statusCode"`
	Result     json.RawMessage `json:"result,omitempty"`
	Size       *int            `json:"size,omitempty"`
}

// ResponseView is an activation's outcome as the API returns it.
type ResponseView struct {
	Result  json.RawMessage `json:"result,omitempty"`
	Size    *int            `json:"size,omitempty"`
	Status  string          `json:"status"`
	Success bool            `json:"success"`
}

// View converts the stored response to the API form.
func (r ActivationResponse) View() ResponseView {
	return ResponseView{Result: r.Result, Size: r.Size, Status: StatusName(r.StatusCode), Success: r.StatusCode == StatusSuccess}
}

// Activation is an activation record (stored form, minus _id/_rev).
type Activation struct {
	Namespace    string             `json:"namespace"`
	Name         string             `json:"name"`
	Subject      string             `json:"subject"`
	ActivationID string             `json:"activationId"`
	Version      string             `json:"version"`
	Publish      bool               `json:"publish"`
	Start        int64              `json:"start"`
	End          int64              `json:"end"`
	Duration     int64              `json:"duration,omitempty"`
	Cause        string             `json:"cause,omitempty"`
	Response     ActivationResponse `json:"response"`
	Logs         []string           `json:"logs"`
	Annotations  KeyValues          `json:"annotations"`
}

// ActivationDoc is an activation as stored: upstream's document shape.
type ActivationDoc struct {
	ID         string `json:"_id"`
	Rev        string `json:"_rev,omitempty"`
	EntityType string `json:"entityType"`
	Activation
}

// ActivationView is an activation as the API returns it.
type ActivationView struct {
	Namespace    string       `json:"namespace"`
	Name         string       `json:"name"`
	Subject      string       `json:"subject"`
	ActivationID string       `json:"activationId"`
	Version      string       `json:"version"`
	Publish      bool         `json:"publish"`
	Start        int64        `json:"start"`
	End          int64        `json:"end,omitempty"`
	Duration     *int64       `json:"duration,omitempty"`
	Cause        string       `json:"cause,omitempty"`
	Response     ResponseView `json:"response"`
	Logs         []string     `json:"logs"`
	Annotations  KeyValues    `json:"annotations"`
}

// View converts to the API form.
func (a *Activation) View() ActivationView {
	v := ActivationView{Namespace: a.Namespace, Name: a.Name, Subject: a.Subject, ActivationID: a.ActivationID,
		Version: a.Version, Publish: a.Publish, Start: a.Start, End: a.End, Cause: a.Cause,
		Response: a.Response.View(), Logs: a.Logs, Annotations: a.Annotations}
	if a.End != 0 {
		d := a.Duration
		v.Duration = &d
	}
	if v.Logs == nil {
		v.Logs = []string{}
	}
	if v.Annotations == nil {
		v.Annotations = KeyValues{}
	}
	return v
}

// ActivationSummary is one entry of an activation list.
type ActivationSummary struct {
	Namespace    string    `json:"namespace"`
	Name         string    `json:"name"`
	Version      string    `json:"version"`
	Publish      bool      `json:"publish"`
	Annotations  KeyValues `json:"annotations"`
	ActivationID string    `json:"activationId"`
	Start        int64     `json:"start"`
	End          int64     `json:"end,omitempty"`
	Duration     *int64    `json:"duration,omitempty"`
	Cause        string    `json:"cause,omitempty"`
	StatusCode   *int      `json:"statusCode,omitempty"`
}

// Summary is the list form of the activation.
func (a *Activation) Summary() ActivationSummary {
	s := ActivationSummary{Namespace: a.Namespace, Name: a.Name, Version: a.Version, Publish: a.Publish,
		Annotations: a.Annotations, ActivationID: a.ActivationID, Start: a.Start, End: a.End, Cause: a.Cause}
	if s.Annotations == nil {
		s.Annotations = KeyValues{}
	}
	if a.End != 0 {
		d, c := a.Duration, a.Response.StatusCode
		s.Duration, s.StatusCode = &d, &c
	}
	return s
}

// NamespaceKey is one namespace of a subject with its credentials.
type NamespaceKey struct {
	Name string `json:"name"`
	UUID string `json:"uuid"`
	Key  string `json:"key"`
}

// SubjectDoc is an identity document in the subjects database.
type SubjectDoc struct {
	ID         string         `json:"_id"`
	Rev        string         `json:"_rev,omitempty"`
	Subject    string         `json:"subject"`
	Namespaces []NamespaceKey `json:"namespaces"`
	Blocked    bool           `json:"blocked,omitempty"`
}

// Identity is an authenticated caller.
type Identity struct {
	Subject   string
	Namespace string
	UUID      string
	Key       string
}

// AuthKey is "uuid:key".
func (i Identity) AuthKey() string { return i.UUID + ":" + i.Key }

// BumpVersion increments the patch of a semantic version "a.b.c".
func BumpVersion(v string) string {
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return "0.0.1"
	}
	p, err := strconv.Atoi(parts[2])
	if err != nil {
		return "0.0.1"
	}
	return fmt.Sprintf("%s.%s.%d", parts[0], parts[1], p+1)
}

// NormalizeVersion parses *v as upstream's SemVer does and rewrites it as
// "major.minor.patch": missing parts are 0 ("1.0" is 1.0.0, "2" is 2.0.0),
// parts after the third are ignored, and a negative part, a part that is not
// an integer, or 0.0.0 is invalid (false, *v unchanged).
func NormalizeVersion(v *string) bool {
	parts := strings.Split(strings.TrimRight(*v, "."), ".")
	if *v == "" {
		return false
	}
	nums := [3]int{}
	for i := 0; i < len(parts) && i < 3; i++ {
		n, err := strconv.ParseInt(parts[i], 10, 32)
		if err != nil || n < 0 {
			return false
		}
		nums[i] = int(n)
	}
	if nums == [3]int{} {
		return false
	}
	*v = fmt.Sprintf("%d.%d.%d", nums[0], nums[1], nums[2])
	return true
}

// ValidVersion reports whether v is "major.minor.patch" with non-negative integers.
func ValidVersion(v string) bool {
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if n, err := strconv.Atoi(p); err != nil || n < 0 {
			return false
		}
	}
	return true
}
