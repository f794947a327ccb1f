package invoker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/invoker"
)

// TestPoolReactivePrewarm: cold starts of a kind raise its stem cells (up to
// MaxCount) at the next check; once they are not needed, they expire after
// their TTL back to MinCount.
func TestPoolReactivePrewarm(t *testing.T) {
	t.Parallel()
	sk := invoker.StemKey{Kind: "nodejs:20", MemoryMB: 256}
	p := newPool(t, newFactory(t), invoker.PoolConfig{
		UserMemoryMB: 4096,
		StemCells:    map[invoker.StemKey]int{sk: 1},
		Reactive: map[invoker.StemKey]invoker.ReactiveConfig{
			sk: {MinCount: 1, MaxCount: 3, TTL: 1500 * time.Millisecond, Threshold: 1, Increment: 1},
		},
		PrewarmCheckInterval: 700 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.Start(ctx)
	if got := p.StemIDs(sk); len(got) != 1 {
		t.Fatalf("stem cells after Start: %v, want 1", got)
	}
	// A burst: eight activations of different actions at once, more than
	// the one stem cell can serve, so most are cold starts.
	actx, acancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer acancel()
	var chs []<-chan acquired
	for i := range 8 {
		chs = append(chs, acquireAsync(p, actx, key("guest", fmt.Sprintf("guest/a%d", i), "1", 256)))
	}
	for _, ch := range chs {
		destroyLater(t, p, waitAcquired(t, ch, 20*time.Second))
	}
	eventually(t, 10*time.Second, "the stem cells grow to MaxCount after the cold starts", func() bool {
		return len(p.StemIDs(sk)) == 3
	})
	// No more cold starts: the extra stem cells expire, MinCount remains.
	eventually(t, 15*time.Second, "the stem cells shrink back to MinCount", func() bool {
		return len(p.StemIDs(sk)) == 1
	})
}
