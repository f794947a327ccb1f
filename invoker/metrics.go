package invoker

import (
	"strings"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/internal/metrics"
	"github.com/brisk-serverless/brisk/messaging"
)

// observe records an activation's metrics as upstream's user-events service
// does from its Activation event: the action's namespace and name (with its
// package), the invoking subject's namespace as initiator, its kind and
// memory, status, wait, init and run times. A fallback activation (one
// that never ran) has kind "unknown", memory 0 and no times.
func (inv *Invoker) observe(msg *messaging.ActivationMessage, act *api.Activation, kind string, wait, init, duration time.Duration, memoryMB int) {
	if inv.cfg.Metrics == nil {
		return
	}
	namespace, pkg, _ := strings.Cut(msg.Action.Path, "/")
	action := msg.Action.Name
	if pkg != "" {
		action = pkg + "/" + action
	}
	size := -1
	if act.Response.Size != nil {
		size = *act.Response.Size
	}
	inv.cfg.Metrics.ObserveActivation(metrics.Activation{
		Namespace: namespace, Initiator: msg.User.Namespace.Name, Action: action, Kind: kind, MemoryMB: memoryMB,
		StatusCode: act.Response.StatusCode, WaitTime: wait, InitTime: init, Duration: duration, ResponseSize: size,
	})
}

// sizes counts the pool's containers by state, for the metrics.
func (p *Pool) sizes() metrics.PoolSizes {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := metrics.PoolSizes{Busy: p.busy, UsedMB: p.usedMB, UserMB: p.cfg.UserMemoryMB}
	for _, list := range p.idle {
		for _, c := range list {
			if c.pausedNow.Load() {
				s.Paused++
			} else {
				s.Warm++
			}
		}
	}
	for _, list := range p.stems {
		s.Prewarm += len(list)
	}
	return s
}
