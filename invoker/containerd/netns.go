package containerd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// netnsDir is where `ip netns` keeps named network namespaces.
const netnsDir = "/run/netns"

// slot is a network namespace attached to the bridge, ready for a container.
type slot struct {
	name string // also the CNI container id of its address
	ip   net.IP
}

func (s *slot) path() string { return filepath.Join(netnsDir, s.name) }

// netnsPool keeps a few network namespaces attached to the bridge ahead of
// time, so that a cold start does not wait for the CNI plugins (50-80 ms):
// a container joins a prepared namespace and a filler prepares the next one.
// Namespaces are never reused: Release tears one down in the background.
type netnsPool struct {
	*readyPool[*slot]
	net    *network
	prefix string         // "brisk-<owner>-": names this factory's namespaces
	wg     sync.WaitGroup // background releases
	log    func(msg string, args ...any)

	mu    sync.Mutex
	owned map[string]bool // namespaces created and not yet destroyed
}

func newNetnsPool(n *network, owner string, size int, warn func(string, ...any)) *netnsPool {
	p := &netnsPool{net: n, prefix: "brisk-" + owner + "-", log: warn, owned: map[string]bool{}}
	p.readyPool = newReadyPool(size, "network namespace", p.create, p.destroy, withBackground, warn)
	return p
}

// take (readyPool's) returns a prepared namespace, or prepares one now. The
// caller calls refill once its container started.

func (p *netnsPool) create(ctx context.Context) (*slot, error) {
	s := &slot{name: p.prefix + randomHex(6)}
	p.mu.Lock()
	p.owned[s.name] = true
	p.mu.Unlock()
	if out, err := run(ctx, nil, nil, "ip", "netns", "add", s.name); err != nil {
		return nil, fmt.Errorf("create network namespace %s: %w: %s", s.name, err, strings.TrimSpace(string(out)))
	}
	ip, err := p.net.add(ctx, s.name, s.path())
	if err != nil {
		p.destroy(s)
		return nil, err
	}
	s.ip = ip
	return s, nil
}

// release tears a namespace down in the background, at the lowest CPU
// priority.
func (p *netnsPool) release(s *slot) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.destroyIn(withBackground(context.Background()), s)
	}()
}

func (p *netnsPool) destroy(s *slot) { p.destroyIn(context.Background(), s) }

func (p *netnsPool) destroyIn(ctx context.Context, s *slot) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := p.net.del(ctx, s.name, s.path()); err != nil {
		p.log("release address", "netns", s.name, "err", err)
	}
	if out, err := run(ctx, nil, nil, "ip", "netns", "del", s.name); err != nil {
		p.log("delete network namespace", "netns", s.name, "err", err, "out", string(out))
	}
	p.mu.Lock()
	delete(p.owned, s.name)
	p.mu.Unlock()
}

// close stops the filler, tears down the prepared namespaces and waits for
// the background releases.
func (p *netnsPool) close() {
	p.readyPool.close()
	p.wg.Wait()
}

// removeLeftovers tears down this owner's namespaces that this pool did
// not create (an earlier run's).
func (p *netnsPool) removeLeftovers() error {
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", netnsDir, err)
	}
	for _, e := range entries {
		p.mu.Lock()
		mine := p.owned[e.Name()]
		p.mu.Unlock()
		if !strings.HasPrefix(e.Name(), p.prefix) || mine {
			continue
		}
		p.destroy(&slot{name: e.Name()})
	}
	return nil
}
