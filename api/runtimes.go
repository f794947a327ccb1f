package api

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed runtimes.json
var defaultManifest []byte

//go:embed apiv1swagger.json
var swagger []byte

// Swagger is upstream's OpenAPI 2.0 document for /api/v1.
func Swagger() []byte { return swagger }

// Runtime is one kind of the manifest.
type Runtime struct {
	Kind        string          `json:"kind"`
	Default     bool            `json:"default"`
	Deprecated  bool            `json:"deprecated"`
	Image       ImageName       `json:"image"`
	Attached    json.RawMessage `json:"attached,omitempty"`
	RequireMain bool            `json:"requireMain,omitempty"`
	StemCells   []StemCell      `json:"stemCells,omitempty"`
	// Concurrent says the runtime can run several activations in one
	// container at the same time (Brisk's addition to the manifest): an
	// action's limits.concurrency above 1 is honoured only for such kinds.
	Concurrent bool `json:"concurrent,omitempty"`
}

// ContainerConcurrency is how many activations of an action with the given
// concurrency limit may share one container of r.
func (r Runtime) ContainerConcurrency(limit int) int {
	if !r.Concurrent || limit < 1 {
		return 1
	}
	return limit
}

// StemCell is a prewarm request.
type StemCell struct {
	InitialCount int    `json:"initialCount"`
	Memory       string `json:"memory"`
	// Reactive, when set, lets the count follow cold starts (upstream's
	// reactive prewarming).
	Reactive *ReactiveStemCells `json:"reactive,omitempty"`
}

// ReactiveStemCells is upstream's reactive prewarming configuration; TTL is
// upstream's duration text ("2 minutes") or a Go duration.
type ReactiveStemCells struct {
	MinCount  int    `json:"minCount"`
	MaxCount  int    `json:"maxCount"`
	TTL       string `json:"ttl"`
	Threshold int    `json:"threshold"`
	Increment int    `json:"increment"`
}

// TTLDuration parses TTL.
func (r ReactiveStemCells) TTLDuration() (time.Duration, error) {
	if d, err := time.ParseDuration(r.TTL); err == nil {
		return d, nil
	}
	num, unit, _ := strings.Cut(strings.TrimSpace(r.TTL), " ")
	n, err := strconv.Atoi(num)
	if err != nil {
		return 0, fmt.Errorf("stem cell ttl %q: %w", r.TTL, err)
	}
	switch strings.TrimSuffix(strings.ToLower(strings.TrimSpace(unit)), "s") {
	case "second":
		return time.Duration(n) * time.Second, nil
	case "minute":
		return time.Duration(n) * time.Minute, nil
	case "hour":
		return time.Duration(n) * time.Hour, nil
	}
	return 0, fmt.Errorf("stem cell ttl %q: unknown unit", r.TTL)
}

// ImageRef is "prefix/name:tag".
func (r Runtime) ImageRef() string { return r.Image.Ref() }

// ImageName names a runtime image.
type ImageName struct {
	Prefix string `json:"prefix"`
	Name   string `json:"name"`
	Tag    string `json:"tag"`
}

// Ref is "prefix/name:tag".
func (n ImageName) Ref() string { return fmt.Sprintf("%s/%s:%s", n.Prefix, n.Name, n.Tag) }

// Manifest is the runtimes manifest (upstream's runtimes.json shape).
type Manifest struct {
	Runtimes map[string][]Runtime `json:"runtimes"`
	// Blackboxes are the local images that run kind "blackbox" actions; the
	// first one is used.
	Blackboxes []ImageName `json:"blackboxes"`
}

// DefaultManifest is the manifest built into Brisk.
func DefaultManifest() *Manifest {
	m, err := ParseManifest(defaultManifest)
	if err != nil {
		panic(err) // embedded data; covered by tests
	}
	return m
}

// ParseManifest parses a runtimes.json document.
func ParseManifest(b []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("runtimes manifest: %w", err)
	}
	return &m, nil
}

// Kinds lists every kind in the manifest, sorted.
func (m *Manifest) Kinds() []string {
	var ks []string
	for _, rs := range m.Runtimes {
		for _, r := range rs {
			ks = append(ks, r.Kind)
		}
	}
	sort.Strings(ks)
	return ks
}

// Resolve maps a requested kind ("nodejs:default" or "nodejs:20") to its runtime.
func (m *Manifest) Resolve(kind string) (Runtime, bool) {
	if kind == "blackbox" && len(m.Blackboxes) > 0 {
		return Runtime{Kind: kind, Image: m.Blackboxes[0], Concurrent: true}, true
	}
	family, version, _ := strings.Cut(kind, ":")
	for _, r := range m.Runtimes[family] {
		if r.Kind == kind || (version == "default" && r.Default) {
			return r, true
		}
	}
	return Runtime{}, false
}

// UnsupportedKind is upstream's 400 for an unknown kind.
func (m *Manifest) UnsupportedKind(kind string) *Error {
	kinds := append(m.Kinds(), "blackbox", "sequence")
	sort.Strings(kinds)
	return Malformed(fmt.Sprintf("The specified runtime '%s' is not supported by this platform. Valid values are: '%s'.",
		kind, strings.Join(kinds, "', '")))
}
