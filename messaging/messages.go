package messaging

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ErrMalformed is wrapped by every error that reports a message which does not
// have upstream's JSON shape.
var ErrMalformed = errors.New("malformed message")

// TransactionID identifies a request across components. It marshals as
// upstream's array: ["<id>", <startMillis>], followed by true when extra
// logging is on and by the parent transaction's array when there is one.
type TransactionID struct {
	ID           string
	Start        int64 // milliseconds since the Unix epoch
	ExtraLogging bool
	Parent       *TransactionID
}

// NewTransactionID returns a transaction id that started at start.
func NewTransactionID(id string, start time.Time) TransactionID {
	return TransactionID{ID: id, Start: start.UnixMilli()}
}

// StartTime returns Start as a time.Time.
func (t TransactionID) StartTime() time.Time { return time.UnixMilli(t.Start) }

// String returns the id as upstream logs it, "#tid_<id>".
func (t TransactionID) String() string { return "#tid_" + t.ID }

// MarshalJSON writes upstream's array form.
func (t TransactionID) MarshalJSON() ([]byte, error) {
	id, err := json.Marshal(t.ID)
	if err != nil {
		return nil, fmt.Errorf("transid: %w", err)
	}
	b := make([]byte, 0, len(id)+24)
	b = append(b, '[')
	b = append(b, id...)
	b = append(b, ',')
	b = strconv.AppendInt(b, t.Start, 10)
	if t.ExtraLogging {
		b = append(b, ",true"...)
	}
	if t.Parent != nil {
		p, err := t.Parent.MarshalJSON()
		if err != nil {
			return nil, err
		}
		b = append(b, ',')
		b = append(b, p...)
	}
	return append(b, ']'), nil
}

// UnmarshalJSON reads upstream's array form. It requires the id and the start
// time, reads the optional extra-logging flag and parent, and ignores any
// further elements.
func (t *TransactionID) UnmarshalJSON(data []byte) error {
	var elems []json.RawMessage
	if err := json.Unmarshal(data, &elems); err != nil {
		return fmt.Errorf("transid %s: %w: %w", data, ErrMalformed, err)
	}
	if len(elems) < 2 {
		return fmt.Errorf("transid %s: %w: want [id, start, ...]", data, ErrMalformed)
	}
	var out TransactionID
	if err := json.Unmarshal(elems[0], &out.ID); err != nil {
		return fmt.Errorf("transid id %s: %w: %w", elems[0], ErrMalformed, err)
	}
	start, err := parseMillis(elems[1])
	if err != nil {
		return fmt.Errorf("transid start %s: %w: %w", elems[1], ErrMalformed, err)
	}
	out.Start = start
	for _, e := range elems[2:] {
		e = bytes.TrimSpace(e)
		switch {
		case len(e) > 0 && e[0] == '[' && out.Parent == nil:
			var p TransactionID
			if err := p.UnmarshalJSON(e); err != nil {
				return err
			}
			out.Parent = &p
		case bytes.Equal(e, []byte("true")) && out.Parent == nil:
			out.ExtraLogging = true
		}
	}
	*t = out
	return nil
}

// parseMillis reads a JSON number as int64 milliseconds, accepting the
// exponent and fraction forms other JSON writers may use.
func parseMillis(raw json.RawMessage) (int64, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, err
	}
	if i, err := n.Int64(); err == nil {
		return i, nil
	}
	f, err := n.Float64()
	if err != nil {
		return 0, err
	}
	return int64(f), nil
}

// FullyQualifiedEntityName names an action: {"path","name","version","binding"}.
// Version and Binding are omitted when empty.
type FullyQualifiedEntityName struct {
	Path    string `json:"path"`
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	Binding string `json:"binding,omitempty"`
}

// String returns "path/name".
func (n FullyQualifiedEntityName) String() string { return n.Path + "/" + n.Name }

// UnmarshalJSON reads the object form and also, as upstream tolerates, the
// document-id string form "ns/[pkg/]name".
func (n *FullyQualifiedEntityName) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return fmt.Errorf("action name: %w: %w", ErrMalformed, err)
		}
		i := strings.LastIndexByte(s, '/')
		if i <= 0 || i == len(s)-1 {
			return fmt.Errorf("action name %q: %w: want namespace/name", s, ErrMalformed)
		}
		*n = FullyQualifiedEntityName{Path: s[:i], Name: s[i+1:]}
		return nil
	}
	type plain FullyQualifiedEntityName
	var p plain
	if err := json.Unmarshal(data, &p); err != nil {
		return fmt.Errorf("action name: %w: %w", ErrMalformed, err)
	}
	*n = FullyQualifiedEntityName(p)
	return nil
}

// Namespace is {"name","uuid"}.
type Namespace struct {
	Name string `json:"name"`
	UUID string `json:"uuid"`
}

// AuthKey is upstream's basic authentication key, {"api_key":"<uuid>:<key>"}.
type AuthKey struct {
	APIKey string `json:"api_key"`
}

// Identity is the invoking user as carried in an activation message.
type Identity struct {
	Subject   string    `json:"subject"`
	Namespace Namespace `json:"namespace"`
	AuthKey   AuthKey   `json:"authkey"`
	// Rights are privilege names: READ, PUT, DELETE, ACTIVATE, REJECT.
	Rights []string `json:"rights"`
	// Limits is the namespace's limits document (upstream UserLimits), passed
	// through verbatim; it marshals as {} when empty.
	Limits json.RawMessage `json:"limits"`
}

// MarshalJSON writes [] for no rights and {} for no limits, as upstream does.
func (id Identity) MarshalJSON() ([]byte, error) {
	type plain Identity
	p := plain(id)
	if p.Rights == nil {
		p.Rights = []string{}
	}
	if isJSONNull(p.Limits) {
		p.Limits = json.RawMessage("{}")
	}
	return json.Marshal(p)
}

// StoresActivations reports whether the user's activations are recorded:
// false only when its limits say "storeActivations": false (upstream's
// UserLimits, set by `wskadmin limits set NS --storeActivations false`).
func (id Identity) StoresActivations() bool {
	var l struct {
		StoreActivations *bool `json:"storeActivations"`
	}
	if len(id.Limits) == 0 || json.Unmarshal(id.Limits, &l) != nil || l.StoreActivations == nil {
		return true
	}
	return *l.StoreActivations
}

// ControllerInstanceID names a controller: {"asString":"0","instanceType":"controller"}.
type ControllerInstanceID struct {
	AsString     string `json:"asString"`
	InstanceType string `json:"instanceType"`
}

// NewControllerInstanceID returns the id of controller name (e.g. "0").
func NewControllerInstanceID(name string) ControllerInstanceID {
	return ControllerInstanceID{AsString: name, InstanceType: "controller"}
}

// MarshalJSON always writes instanceType "controller".
func (c ControllerInstanceID) MarshalJSON() ([]byte, error) {
	type plain ControllerInstanceID
	p := plain(c)
	p.InstanceType = "controller"
	return json.Marshal(p)
}

// ActivationMessage is what a controller publishes on invoker<N> for each
// activation, in upstream's JSON.
type ActivationMessage struct {
	TransID TransactionID            `json:"transid"`
	Action  FullyQualifiedEntityName `json:"action"`
	// Revision is the action document's revision; "" marshals as null.
	Revision            string               `json:"revision"`
	User                Identity             `json:"user"`
	ActivationID        string               `json:"activationId"`
	RootControllerIndex ControllerInstanceID `json:"rootControllerIndex"`
	Blocking            bool                 `json:"blocking"`
	// Content is the merged arguments (an object, or an array); nil when
	// absent. A JSON null decodes as nil.
	Content json.RawMessage `json:"content,omitempty"`
	// InitArgs names the parameters passed to /init instead of /run.
	InitArgs []string `json:"initArgs"`
	// LockedArgs are encrypted parameters (encryption is off by default).
	LockedArgs   map[string]string `json:"lockedArgs"`
	Cause        string            `json:"cause,omitempty"`
	TraceContext map[string]string `json:"traceContext,omitempty"`
}

// MarshalJSON writes upstream's shape: [] and {} for empty initArgs and
// lockedArgs, and null for an empty revision.
func (m ActivationMessage) MarshalJSON() ([]byte, error) {
	type plain ActivationMessage
	p := plain(m)
	if p.InitArgs == nil {
		p.InitArgs = []string{}
	}
	if p.LockedArgs == nil {
		p.LockedArgs = map[string]string{}
	}
	if isJSONNull(p.Content) {
		p.Content = nil
	}
	var rev *string
	if m.Revision != "" {
		rev = &m.Revision
	}
	return json.Marshal(struct {
		plain
		Revision *string `json:"revision"`
	}{p, rev})
}

// UnmarshalJSON reads upstream's shape; a null content becomes nil.
func (m *ActivationMessage) UnmarshalJSON(data []byte) error {
	type plain ActivationMessage
	var p plain
	if err := json.Unmarshal(data, &p); err != nil {
		return fmt.Errorf("activation message: %w: %w", ErrMalformed, err)
	}
	if isJSONNull(p.Content) {
		p.Content = nil
	}
	*m = ActivationMessage(p)
	return nil
}

// ParseActivationMessage decodes an activation message and checks the fields
// an invoker cannot do without.
func ParseActivationMessage(data []byte) (ActivationMessage, error) {
	var m ActivationMessage
	if err := m.UnmarshalJSON(data); err != nil { // direct: json.Unmarshal would scan it twice
		return ActivationMessage{}, err
	}
	if m.ActivationID == "" || m.Action.Name == "" || m.RootControllerIndex.AsString == "" {
		return ActivationMessage{}, fmt.Errorf("activation message: %w: missing activationId, action or rootControllerIndex", ErrMalformed)
	}
	return m, nil
}

// InvokerInstanceID names an invoker. UserMemory is upstream's ByteSize string,
// e.g. "2048 MB" (see [FormatMB] and [ParseByteSize]).
type InvokerInstanceID struct {
	Instance            int      `json:"instance"`
	UserMemory          string   `json:"userMemory"`
	BusyMemory          string   `json:"busyMemory,omitempty"`
	InstanceType        string   `json:"instanceType"`
	Tags                []string `json:"tags"`
	DedicatedNamespaces []string `json:"dedicatedNamespaces"`
	UniqueName          string   `json:"uniqueName,omitempty"`
	DisplayedName       string   `json:"displayedName,omitempty"`
}

// NewInvokerInstanceID returns the id of invoker n with userMemoryMB of memory
// for actions.
func NewInvokerInstanceID(n, userMemoryMB int) InvokerInstanceID {
	return InvokerInstanceID{Instance: n, UserMemory: FormatMB(userMemoryMB), InstanceType: "invoker"}
}

// String returns "invoker<N>" as upstream names the instance in logs.
func (i InvokerInstanceID) String() string { return "invoker" + strconv.Itoa(i.Instance) }

// MarshalJSON writes instanceType "invoker" and [] for empty lists.
func (i InvokerInstanceID) MarshalJSON() ([]byte, error) {
	type plain InvokerInstanceID
	p := plain(i)
	p.InstanceType = "invoker"
	if p.Tags == nil {
		p.Tags = []string{}
	}
	if p.DedicatedNamespaces == nil {
		p.DedicatedNamespaces = []string{}
	}
	return json.Marshal(p)
}

// UnmarshalJSON reads upstream's shape and rejects other instance types.
func (i *InvokerInstanceID) UnmarshalJSON(data []byte) error {
	type plain InvokerInstanceID
	var p plain
	if err := json.Unmarshal(data, &p); err != nil {
		return fmt.Errorf("invoker instance: %w: %w", ErrMalformed, err)
	}
	if p.InstanceType != "invoker" {
		return fmt.Errorf("invoker instance: %w: instanceType %q", ErrMalformed, p.InstanceType)
	}
	*i = InvokerInstanceID(p)
	return nil
}

// FormatMB formats megabytes as upstream's ByteSize string, "<n> MB".
func FormatMB(mb int) string { return strconv.Itoa(mb) + " MB" }

var byteSizeRE = regexp.MustCompile(`(?i)^\s?(\d+)\s?(GB|MB|KB|B|G|M|K)\s?$`)

// ParseByteSize parses upstream's ByteSize strings ("2048 MB", "2g", "512 B")
// into bytes.
func ParseByteSize(s string) (int64, error) {
	m := byteSizeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("byte size %q: %w", s, ErrMalformed)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("byte size %q: %w: %w", s, ErrMalformed, err)
	}
	switch strings.ToUpper(m[2])[0] {
	case 'K':
		n <<= 10
	case 'M':
		n <<= 20
	case 'G':
		n <<= 30
	}
	return n, nil
}

// PingMessage is an invoker's heartbeat on the health topic.
type PingMessage struct {
	Name InvokerInstanceID `json:"name"`
	// IsEnabled is nil when absent, which upstream reads as enabled.
	IsEnabled *bool `json:"isEnabled,omitempty"`
}

// NewPingMessage returns a ping from invoker with the given enabled state.
func NewPingMessage(invoker InvokerInstanceID, enabled bool) PingMessage {
	return PingMessage{Name: invoker, IsEnabled: &enabled}
}

// Enabled reports whether the invoker accepts work (absent means true).
func (p PingMessage) Enabled() bool { return p.IsEnabled == nil || *p.IsEnabled }

// CacheKey identifies a cached entity: {"mainId","secondaryId"?}.
type CacheKey struct {
	MainID      string `json:"mainId"`
	SecondaryID string `json:"secondaryId,omitempty"`
}

// IdentityCacheKey is upstream's cache key of a credential: the namespace's
// uuid and key.
func IdentityCacheKey(uuid, key string) CacheKey {
	return CacheKey{MainID: uuid, SecondaryID: key}
}

// LimitsSuffix ends the id of a namespace's limits document, "<ns>/limits".
const LimitsSuffix = "/limits"

// LimitsCacheKey is the cache key of a namespace's limits document.
func LimitsCacheKey(namespace string) CacheKey {
	return CacheKey{MainID: namespace + LimitsSuffix}
}

// CacheInvalidationMessage tells the other controllers to evict Key.
// InstanceID is the sender's id; receivers ignore their own messages.
type CacheInvalidationMessage struct {
	Key        CacheKey `json:"key"`
	InstanceID string   `json:"instanceId"`
}

func isJSONNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}
