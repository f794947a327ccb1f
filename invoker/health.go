package invoker

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/brisk-serverless/brisk/messaging"
)

// PingInterval is how often an invoker tells the controllers it is alive,
// as upstream's invokers do.
const PingInterval = time.Second

// pingSendTimeout bounds one ping; a ping that cannot be sent in time is
// dropped (the next one follows a second later).
const pingSendTimeout = 5 * time.Second

// Ping publishes one PingMessage on the health topic: enabled, or (when
// the invoker stops) disabled, which makes the controllers take it out of
// scheduling at once instead of after their 10 s ping timeout.
func (inv *Invoker) Ping(ctx context.Context, enabled bool) error {
	b, err := json.Marshal(messaging.NewPingMessage(inv.id, enabled))
	if err != nil {
		return fmt.Errorf("encode ping of %s: %w", inv.id, err)
	}
	ctx, cancel := context.WithTimeout(ctx, pingSendTimeout)
	defer cancel()
	if err := inv.pub.Send(ctx, messaging.HealthTopic, b); err != nil {
		return fmt.Errorf("ping from %s: %w", inv.id, err)
	}
	return nil
}

// RunPings pings every interval (PingInterval when 0) until ctx ends.
// Failures are logged; pinging goes on.
func (inv *Invoker) RunPings(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = PingInterval
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	failing := false
	for {
		err := inv.Ping(ctx, true)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			inv.log.Warn("ping failed; the controllers will take this invoker out after 10 s", "err", err)
			failing = true
		case err == nil && failing:
			inv.log.Info("pinging again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
