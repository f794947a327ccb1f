package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func fastTiming(c *raft.Config) {
	c.HeartbeatTimeout = 100 * time.Millisecond
	c.ElectionTimeout = 100 * time.Millisecond
	c.LeaderLeaseTimeout = 100 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
}

// dutyLog records which node runs a duty, and checks that two never do at
// once.
type dutyLog struct {
	t       *testing.T
	mu      sync.Mutex
	running map[string]bool
	starts  []string
	overlap bool
}

func (d *dutyLog) duty(node string) Duty {
	return Duty{Name: "alarms", Run: func(ctx context.Context) {
		d.mu.Lock()
		for n, r := range d.running {
			if r && n != node {
				d.overlap = true
			}
		}
		d.running[node] = true
		d.starts = append(d.starts, node)
		d.mu.Unlock()
		<-ctx.Done()
		d.mu.Lock()
		d.running[node] = false
		d.mu.Unlock()
	}}
}

func (d *dutyLog) runningOn() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for n, r := range d.running {
		if r {
			out = append(out, n)
		}
	}
	return out
}

type testGroup struct {
	t      *testing.T
	nodes  map[string]*Cluster
	trans  map[string]*raft.InmemTransport
	duties *dutyLog
	sizes  map[string]int
	mu     sync.Mutex
}

// newGroup starts n controllers c0..c<n-1> over raft's in-memory transport,
// all bootstrapped with the same voters.
func newGroup(t *testing.T, n int) *testGroup {
	g := &testGroup{t: t, nodes: map[string]*Cluster{}, trans: map[string]*raft.InmemTransport{},
		duties: &dutyLog{t: t, running: map[string]bool{}}, sizes: map[string]int{}}
	var voters []Server
	for i := range n {
		id := fmt.Sprintf("c%d", i)
		addr, tr := raft.NewInmemTransport(raft.ServerAddress(id))
		g.trans[id] = tr
		voters = append(voters, Server{ID: id, Address: string(addr)})
	}
	for _, a := range g.trans {
		for id, b := range g.trans {
			a.Connect(raft.ServerAddress(id), b)
		}
	}
	for _, v := range voters {
		g.start(v.ID, voters, false)
	}
	t.Cleanup(func() {
		for _, c := range g.nodes {
			_ = c.Close()
		}
	})
	return g
}

func (g *testGroup) start(id string, voters []Server, join bool) {
	g.t.Helper()
	store := raft.NewInmemStore()
	c, err := Open(Config{NodeID: id, Voters: voters, Join: join, API: "http://" + id, Log: quiet(),
		transport: g.trans[id], logs: store, stable: store, snapshots: raft.NewInmemSnapshotStore(), timing: fastTiming})
	if err != nil {
		g.t.Fatal(err)
	}
	g.nodes[id] = c
	c.Start(func(n int) { g.mu.Lock(); g.sizes[id] = n; g.mu.Unlock() }, g.duties.duty(id))
}

func (g *testGroup) size(id string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sizes[id]
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// leader waits for exactly one leader among the running nodes, with the
// duty running on it alone.
func (g *testGroup) leader() string {
	g.t.Helper()
	var leader string
	waitFor(g.t, "one leader running the duty", func() bool {
		leader = ""
		for id, c := range g.nodes {
			if c.IsLeader() {
				if leader != "" {
					return false
				}
				leader = id
			}
		}
		on := g.duties.runningOn()
		return leader != "" && len(on) == 1 && on[0] == leader
	})
	return leader
}

func TestGroupElectsRunsDutiesAndHandsOver(t *testing.T) {
	g := newGroup(t, 3)
	first := g.leader()
	ctx := t.Context()

	// Every member sees the leader, its API URL and three live voters.
	for id, c := range g.nodes {
		waitFor(t, id+" knows the leader", func() bool { l, api := c.Leader(); return l == first && api == "http://"+first })
		waitFor(t, id+" sees 3 live controllers", func() bool { return g.size(id) == 3 })
	}
	states := map[string]string{}
	for _, ctl := range g.nodes[first].Controllers() {
		states[ctl.ID] = ctl.State
	}
	if len(states) != 3 || states[first] != "leader" {
		t.Fatalf("controllers seen by the leader: %v", states)
	}

	// An alarm tick is fired once.
	tick := time.UnixMilli(1_700_000_000_000)
	if ok, err := g.nodes[first].RecordFire(ctx, "guest/every2s", tick); err != nil || !ok {
		t.Fatalf("first record of a tick: %v %v", ok, err)
	}
	if ok, err := g.nodes[first].RecordFire(ctx, "guest/every2s", tick); err != nil || ok {
		t.Fatalf("second record of the same tick: %v %v", ok, err)
	}
	// A follower cannot record (it must not fire).
	for id, c := range g.nodes {
		if id != first {
			if _, err := c.RecordFire(ctx, "guest/every2s", tick.Add(time.Second)); !errors.Is(err, ErrNotLeader) {
				t.Fatalf("a follower recorded a tick: %v", err)
			}
			if err := c.AddVoter(ctx, "c9", "c9:1", ""); !errors.As(err, new(*NotLeaderError)) {
				t.Fatalf("a follower changed the membership: %v", err)
			}
			break
		}
	}

	// The leader stops: another takes over within the election timeout,
	// with the replicated record, and runs the duty alone.
	if err := g.nodes[first].Close(); err != nil {
		t.Fatal(err)
	}
	delete(g.nodes, first)
	second := g.leader()
	if second == first {
		t.Fatal("the closed leader still leads")
	}
	if ok, err := g.nodes[second].RecordFire(ctx, "guest/every2s", tick); err != nil || ok {
		t.Fatalf("the new leader may fire a tick its predecessor fired: %v %v", ok, err)
	}
	// The new leader records the old one down: 2 live controllers.
	for id := range g.nodes {
		waitFor(t, id+" sees 2 live controllers", func() bool { return g.size(id) == 2 })
	}
	g.duties.mu.Lock()
	overlap := g.duties.overlap
	g.duties.mu.Unlock()
	if overlap {
		t.Fatal("the duty ran on two controllers at once")
	}
}

func TestPartitionedLeaderCannotFire(t *testing.T) {
	g := newGroup(t, 3)
	first := g.leader()
	// Cut the leader off: the others elect a leader; the old one cannot
	// commit a tick (so it fires nothing) and steps down.
	g.trans[first].DisconnectAll()
	for id, tr := range g.trans {
		if id != first {
			tr.Disconnect(raft.ServerAddress(first))
		}
	}
	_, err := g.nodes[first].RecordFire(t.Context(), "guest/t", time.Now())
	if err == nil {
		t.Fatal("a cut-off leader recorded a tick")
	}
	waitFor(t, "a new leader among the others", func() bool {
		for id, c := range g.nodes {
			if id != first && c.IsLeader() {
				return true
			}
		}
		return false
	})
	waitFor(t, "the old leader steps down and stops its duty", func() bool {
		for _, n := range g.duties.runningOn() {
			if n == first {
				return false
			}
		}
		return !g.nodes[first].IsLeader()
	})
	// Healed, it rejoins as a follower.
	for id, tr := range g.trans {
		for id2, tr2 := range g.trans {
			if id != id2 {
				tr.Connect(raft.ServerAddress(id2), tr2)
			}
		}
	}
	waitFor(t, "the old leader follows again", func() bool {
		l, _ := g.nodes[first].Leader()
		return l != "" && l != first
	})
}

func TestQuorumLossPausesDuties(t *testing.T) {
	g := newGroup(t, 3)
	first := g.leader()
	// Two of three stop: no leader, no duty, the survivor sees no leader.
	var survivor string
	for id := range g.nodes {
		if id != first && survivor == "" {
			survivor = id
		}
	}
	for id, c := range g.nodes {
		if id != survivor {
			_ = c.Close()
			delete(g.nodes, id)
		}
	}
	waitFor(t, "no leader and no duty", func() bool {
		l, _ := g.nodes[survivor].Leader()
		return l == "" && len(g.duties.runningOn()) == 0
	})
	for _, ctl := range g.nodes[survivor].Controllers() {
		if ctl.State == "leader" {
			t.Fatalf("a leader is shown without quorum: %+v", ctl)
		}
	}
}

func TestAddAndRemoveVoter(t *testing.T) {
	g := newGroup(t, 1)
	leader := g.leader()
	// c1 starts to join (no bootstrap) and is added by the leader.
	addr, tr := raft.NewInmemTransport("c1")
	g.trans["c1"] = tr
	tr.Connect(raft.ServerAddress(leader), g.trans[leader])
	g.trans[leader].Connect(addr, tr)
	g.start("c1", nil, true)
	if err := g.nodes[leader].AddVoter(t.Context(), "c1", string(addr), "http://c1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "c1 follows", func() bool { l, _ := g.nodes["c1"].Leader(); return l == leader })
	waitFor(t, "2 live controllers", func() bool { return g.size(leader) == 2 && g.size("c1") == 2 })
	if err := g.nodes[leader].AddVoter(t.Context(), "", "c5", ""); !errors.Is(err, ErrBadMember) {
		t.Fatalf("a bad member was added: %v", err)
	}
	if err := g.nodes[leader].RemoveServer(t.Context(), "c7"); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("removing an unknown member: %v", err)
	}
	if err := g.nodes[leader].RemoveServer(t.Context(), "c1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "1 live controller", func() bool { return g.size(leader) == 1 })
}

func TestBootstrapNeedsSelfAmongVoters(t *testing.T) {
	_, tr := raft.NewInmemTransport("x")
	store := raft.NewInmemStore()
	_, err := Open(Config{NodeID: "x", Voters: []Server{{ID: "y", Address: "y"}}, Log: quiet(),
		transport: tr, logs: store, stable: store, snapshots: raft.NewInmemSnapshotStore()})
	if err == nil {
		t.Fatal("a controller bootstrapped a group it is not in")
	}
	if _, err := ParseServers([]string{"c0=127.0.0.1:7000", "bad"}); err == nil {
		t.Fatal("a voter without an id was parsed")
	}
}
