package api

import (
	"fmt"
	"net/http"
)

// Limits are the system limits (upstream's defaults).
type Limits struct {
	MinTimeoutMs, MaxTimeoutMs, StdTimeoutMs int
	MinMemoryMB, MaxMemoryMB, StdMemoryMB    int
	MinLogsMB, MaxLogsMB, StdLogsMB          int
	MinConcurrency, MaxConcurrency           int
	InvocationsPerMinute                     int
	ConcurrentInvocations                    int
	FiresPerMinute                           int
	SequenceMaxLength                        int
	MaxParameterBytes                        int
	MaxPayloadBytes                          int
	MaxResultBytes                           int
	MaxExecBytes                             int
	MaxBlockingWaitMs                        int
}

// DefaultMaxConcurrency is the default upper bound of an action's
// limits.concurrency (activations sharing one container). Upstream's default
// is 1 (the feature off); Brisk runs concurrent activations, with their logs
// attributed, for the kinds whose runtime allows it (Runtime.Concurrent).
const DefaultMaxConcurrency = 500

// DefaultLimits are upstream's deployable defaults, except MaxConcurrency.
func DefaultLimits() Limits {
	return Limits{
		MinTimeoutMs: 100, MaxTimeoutMs: 300000, StdTimeoutMs: 60000,
		MinMemoryMB: 128, MaxMemoryMB: 512, StdMemoryMB: 256,
		MinLogsMB: 0, MaxLogsMB: 10, StdLogsMB: 10,
		MinConcurrency: 1, MaxConcurrency: DefaultMaxConcurrency,
		InvocationsPerMinute: 60, ConcurrentInvocations: 30, FiresPerMinute: 60, SequenceMaxLength: 50,
		MaxParameterBytes: 1 << 20, MaxPayloadBytes: 1 << 20, MaxResultBytes: 1 << 20, MaxExecBytes: 48 << 20,
		MaxBlockingWaitMs: 60000,
	}
}

// Defaults returns the standard action limits.
func (l Limits) Defaults() ActionLimits {
	return ActionLimits{Timeout: l.StdTimeoutMs, Memory: l.StdMemoryMB, Logs: l.StdLogsMB, Concurrency: 1}
}

// Check validates action limits against the system range with upstream's messages.
func (l Limits) Check(a ActionLimits) error {
	bad := func(format string, args ...any) error {
		return &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
	}
	switch {
	case a.Timeout > l.MaxTimeoutMs:
		return bad("duration %d milliseconds exceeds allowed threshold of %d milliseconds", a.Timeout, l.MaxTimeoutMs)
	case a.Timeout < l.MinTimeoutMs:
		return bad("duration %d milliseconds below allowed threshold of %d milliseconds", a.Timeout, l.MinTimeoutMs)
	case a.Memory > l.MaxMemoryMB:
		return bad("memory size %d MB exceeds allowed threshold of %d MB", a.Memory, l.MaxMemoryMB)
	case a.Memory < l.MinMemoryMB:
		return bad("memory size %d MB below allowed threshold of %d MB", a.Memory, l.MinMemoryMB)
	case a.Logs > l.MaxLogsMB:
		return bad("log size %d MB exceeds allowed threshold of %d MB", a.Logs, l.MaxLogsMB)
	case a.Logs < l.MinLogsMB:
		return bad("log size %d MB below allowed threshold of %d MB", a.Logs, l.MinLogsMB)
	case a.Concurrency > l.MaxConcurrency:
		return bad("concurrency %d exceeds allowed threshold of %d", a.Concurrency, l.MaxConcurrency)
	case a.Concurrency < l.MinConcurrency:
		return bad("concurrency %d below allowed threshold of %d", a.Concurrency, l.MinConcurrency)
	}
	return nil
}

// NamespaceLimitsView is the body of GET /namespaces/_/limits.
type NamespaceLimitsView struct {
	InvocationsPerMinute  int    `json:"invocationsPerMinute"`
	ConcurrentInvocations int    `json:"concurrentInvocations"`
	FiresPerMinute        int    `json:"firesPerMinute"`
	MinActionMemory       int    `json:"minActionMemory"`
	MaxActionMemory       int    `json:"maxActionMemory"`
	MinActionLogs         int    `json:"minActionLogs"`
	MaxActionLogs         int    `json:"maxActionLogs"`
	MinActionTimeout      int    `json:"minActionTimeout"`
	MaxActionTimeout      int    `json:"maxActionTimeout"`
	MinActionConcurrency  int    `json:"minActionConcurrency"`
	MaxActionConcurrency  int    `json:"maxActionConcurrency"`
	MaxParameterSize      string `json:"maxParameterSize"`
	MaxActionInstances    int    `json:"maxActionInstances"`
}

// View is the namespace limits view of the system limits.
func (l Limits) View() NamespaceLimitsView {
	return NamespaceLimitsView{
		InvocationsPerMinute: l.InvocationsPerMinute, ConcurrentInvocations: l.ConcurrentInvocations,
		FiresPerMinute: l.FiresPerMinute, MinActionMemory: l.MinMemoryMB, MaxActionMemory: l.MaxMemoryMB,
		MinActionLogs: l.MinLogsMB, MaxActionLogs: l.MaxLogsMB, MinActionTimeout: l.MinTimeoutMs,
		MaxActionTimeout: l.MaxTimeoutMs, MinActionConcurrency: l.MinConcurrency, MaxActionConcurrency: l.MaxConcurrency,
		MaxParameterSize: fmt.Sprintf("%d MB", l.MaxParameterBytes>>20), MaxActionInstances: l.ConcurrentInvocations,
	}
}
