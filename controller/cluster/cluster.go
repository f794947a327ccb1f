package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// ErrNotLeader is returned by operations only the leader performs; the
// error's text names the leader when one is known.
var ErrNotLeader = errors.New("this controller is not the Raft leader")

// ErrNoLeader is returned when the group has no leader (an election is on,
// or a majority of the controllers is down).
var ErrNoLeader = errors.New("the controllers have no Raft leader")

// Server names a voter: its node id and Raft address.
type Server struct {
	ID      string
	Address string
}

// ParseServers reads "id=host:port" entries.
func ParseServers(list []string) ([]Server, error) {
	var out []Server
	for _, e := range list {
		id, addr, ok := strings.Cut(strings.TrimSpace(e), "=")
		if !ok || id == "" {
			return nil, fmt.Errorf("voter %q: want id=host:port", e)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("voter %q: %w", e, err)
		}
		out = append(out, Server{ID: id, Address: addr})
	}
	return out, nil
}

// Config configures a controller's membership in the Raft group.
type Config struct {
	// NodeID names this controller in the group.
	NodeID string
	// Bind is the host:port the Raft transport listens on; Advertise, when
	// set, is the address the others reach it at (default Bind).
	Bind, Advertise string
	// DataDir holds the Raft log and stable store (raft.db, raft-boltdb)
	// and the snapshots.
	DataDir string
	// Voters are the group's initial voters, this controller among them; a
	// controller without earlier state bootstraps the group with them.
	// Empty: a group of one.
	Voters []Server
	// Join makes a controller without earlier state wait until the leader
	// adds it (AddVoter) instead of bootstrapping.
	Join bool
	// API is this controller's REST API base URL, recorded when it leads so
	// that the others can forward requests to it.
	API string
	// Local makes a group of one without a network transport (standalone):
	// nothing listens, and Bind is not used.
	Local bool
	// Log receives the cluster's events; Raft's own log goes to it too,
	// at warn and above.
	Log *slog.Logger

	// The Raft parts; tests set them to in-memory ones (then Bind and
	// DataDir are not used).
	transport raft.Transport
	logs      raft.LogStore
	stable    raft.StableStore
	snapshots raft.SnapshotStore
	// timing overrides Raft's timeouts (tests).
	timing func(*raft.Config)
}

const (
	// applyTimeout bounds one command's commit.
	applyTimeout = 10 * time.Second
	// downAfter is how long the leader goes without a member's heartbeat
	// before it records the member down.
	downAfter = 3 * time.Second
	// sizeCheckInterval is how often the live size is recomputed.
	sizeCheckInterval = 500 * time.Millisecond
	// snapshotsKept is how many snapshots stay on disk.
	snapshotsKept = 2
)

// Cluster is this controller's member of the Raft group.
type Cluster struct {
	cfg   Config
	log   *slog.Logger
	raft  *raft.Raft
	fsm   *fsm
	close []func() error // closes the transport and the stores, in order

	observations chan raft.Observation
	observer     *raft.Observer

	mu      sync.Mutex
	duties  []Duty
	onSize  []func(int)
	size    int
	started bool

	stop     chan struct{}
	stopped  sync.Once
	closeErr error
	wg       sync.WaitGroup // the leadership loop and its helpers
}

// Duty is work that must run on one controller of the cluster at a time:
// Run runs on the leader from the moment it leads until ctx ends (the
// leadership is lost, or the cluster closes).
type Duty struct {
	Name string
	Run  func(ctx context.Context)
}

// Open joins (or bootstraps) the Raft group. Start begins the duties.
func Open(cfg Config) (*Cluster, error) {
	if cfg.NodeID == "" {
		return nil, errors.New("raft: node id must not be empty")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	c := &Cluster{cfg: cfg, log: cfg.Log.With("component", "raft"), fsm: newFSM(), size: 1, stop: make(chan struct{})}
	if err := c.openParts(); err != nil {
		c.closeParts()
		return nil, err
	}
	cfg = c.cfg // with the parts openParts opened
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	raftLog := &quietWriter{w: slogWriter{c.log}}
	rc.Logger = hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: raftLog})
	if cfg.Local {
		// No network: a group of one elects itself at once.
		rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = 100*time.Millisecond, 100*time.Millisecond, 100*time.Millisecond
	}
	if cfg.timing != nil {
		cfg.timing(rc)
	}
	hasState, err := raft.HasExistingState(cfg.logs, cfg.stable, cfg.snapshots)
	if err != nil {
		c.closeParts()
		return nil, fmt.Errorf("raft: read state: %w", err)
	}
	r, err := raft.NewRaft(rc, c.fsm, cfg.logs, cfg.stable, cfg.snapshots, cfg.transport)
	if err != nil {
		c.closeParts()
		return nil, fmt.Errorf("raft: %w", err)
	}
	c.raft = r
	if !hasState && !cfg.Join {
		voters := cfg.Voters
		if len(voters) == 0 {
			voters = []Server{{ID: cfg.NodeID, Address: string(cfg.transport.LocalAddr())}}
		}
		if !slices.ContainsFunc(voters, func(s Server) bool { return s.ID == cfg.NodeID }) {
			_ = r.Shutdown().Error()
			c.closeParts()
			return nil, fmt.Errorf("raft: the voters do not include this controller (%s): add it, or set join", cfg.NodeID)
		}
		conf := raft.Configuration{}
		for _, v := range voters {
			conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(v.ID), Address: raft.ServerAddress(v.Address)})
		}
		if err := r.BootstrapCluster(conf).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			_ = r.Shutdown().Error()
			c.closeParts()
			return nil, fmt.Errorf("raft: bootstrap: %w", err)
		}
	}
	c.observations = make(chan raft.Observation, 64)
	c.observer = raft.NewObserver(c.observations, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation:
			return true
		}
		return false
	})
	r.RegisterObserver(c.observer)
	return c, nil
}

// openParts opens the transport and the stores Config did not provide.
func (c *Cluster) openParts() error {
	cfg := &c.cfg
	if cfg.logs == nil {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return fmt.Errorf("raft data dir: %w", err)
		}
		bolt, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.DataDir, "raft.db")})
		if err != nil {
			return fmt.Errorf("raft store %s: %w", cfg.DataDir, err)
		}
		cfg.logs, cfg.stable = bolt, bolt
		c.close = append(c.close, bolt.Close)
	}
	if cfg.snapshots == nil {
		snaps, err := raft.NewFileSnapshotStore(cfg.DataDir, snapshotsKept, &quietWriter{w: slogWriter{c.log}})
		if err != nil {
			return fmt.Errorf("raft snapshots %s: %w", cfg.DataDir, err)
		}
		cfg.snapshots = snaps
	}
	if cfg.transport == nil && cfg.Local {
		_, cfg.transport = raft.NewInmemTransport("local")
	}
	if cfg.transport == nil {
		advertise := cfg.Advertise
		if advertise == "" {
			advertise = cfg.Bind
		}
		addr, err := net.ResolveTCPAddr("tcp", advertise)
		if err != nil {
			return fmt.Errorf("raft advertise address %q: %w", advertise, err)
		}
		t, err := raft.NewTCPTransport(cfg.Bind, addr, 3, 10*time.Second, &quietWriter{w: slogWriter{c.log}})
		if err != nil {
			return fmt.Errorf("raft transport on %s: %w", cfg.Bind, err)
		}
		cfg.transport = t
		c.close = append([]func() error{t.Close}, c.close...)
	}
	return nil
}

func (c *Cluster) closeParts() {
	for _, f := range c.close {
		_ = f()
	}
	c.close = nil
}

// Start begins the leadership loop with duties: while this controller
// leads, each duty runs (after the leader has applied everything its
// predecessors committed). onSize, when set, is told the number of live
// voters now and whenever it changes.
func (c *Cluster) Start(onSize func(int), duties ...Duty) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return
	}
	c.started = true
	c.duties = duties
	if onSize != nil {
		c.onSize = append(c.onSize, onSize)
		onSize(c.size)
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.loop()
	}()
}

// Close leaves the group's work: duties stop, then Raft shuts down (the
// others elect a new leader if this one led), then the stores close. Calls
// after the first return its result.
func (c *Cluster) Close() error {
	c.stopped.Do(func() {
		close(c.stop)
		c.wg.Wait()
		c.raft.DeregisterObserver(c.observer)
		if err := c.raft.Shutdown().Error(); err != nil {
			c.closeErr = fmt.Errorf("raft shutdown: %w", err)
		}
		c.closeParts()
	})
	return c.closeErr
}

// loop follows leadership, the members' heartbeats and the live size until
// Close.
func (c *Cluster) loop() {
	var lead *leadership
	defer func() { lead.end() }()
	tick := time.NewTicker(sizeCheckInterval)
	defer tick.Stop()
	down := map[string]bool{}
	for {
		select {
		case <-c.stop:
			return
		case leader := <-c.raft.LeaderCh():
			lead.end()
			lead = nil
			clear(down)
			if leader {
				lead = c.lead()
			}
		case o := <-c.observations:
			if lead == nil {
				continue
			}
			switch ob := o.Data.(type) {
			case raft.FailedHeartbeatObservation:
				id := string(ob.PeerID)
				if !down[id] && time.Since(ob.LastContact) > downAfter {
					down[id] = true
					lead.goApply(MemberLiveType, map[string]any{"id": id, "down": true})
				}
			case raft.ResumedHeartbeatObservation:
				id := string(ob.PeerID)
				if down[id] {
					delete(down, id)
					lead.goApply(MemberLiveType, map[string]any{"id": id, "down": false})
				}
			}
		case <-tick.C:
			c.checkSize()
		}
	}
}

// checkSize recomputes the live size and tells the listeners of a change.
func (c *Cluster) checkSize() {
	n := c.Size()
	c.mu.Lock()
	changed := n != c.size
	c.size = n
	listeners := slices.Clone(c.onSize)
	c.mu.Unlock()
	if changed {
		c.log.Info("live controllers", "count", n)
		for _, f := range listeners {
			f(n)
		}
	}
}

// leadership is one term of this controller's leadership: its duties run
// under ctx.
type leadership struct {
	c      *Cluster
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// lead starts a leadership: once the leader has caught up with the log
// (a barrier), it records itself and its duties and starts them.
func (c *Cluster) lead() *leadership {
	ctx, cancel := context.WithCancel(context.Background())
	l := &leadership{c: c, ctx: ctx, cancel: cancel}
	term := c.raft.CurrentTerm()
	c.log.Info("leading the controllers", "node", c.cfg.NodeID, "term", term)
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		if err := c.raft.Barrier(applyTimeout).Error(); err != nil {
			c.log.Warn("leader could not catch up; duties not started", "err", err)
			return
		}
		self := Member{ID: c.cfg.NodeID, Address: string(c.cfg.transport.LocalAddr()), API: c.cfg.API}
		if err := c.apply(ctx, MemberType, self); err != nil {
			c.log.Warn("leader not recorded", "err", err)
			return
		}
		if err := c.apply(ctx, MemberLiveType, map[string]any{"id": self.ID, "down": false}); err != nil {
			c.log.Warn("leader not recorded", "err", err)
			return
		}
		c.mu.Lock()
		duties := slices.Clone(c.duties)
		c.mu.Unlock()
		for _, d := range duties {
			if err := c.apply(ctx, DutyType, DutyOwner{Name: d.Name, Owner: c.cfg.NodeID, Term: term}); err != nil {
				c.log.Warn("duty not taken", "duty", d.Name, "err", err)
				return
			}
		}
		for _, d := range duties {
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				c.log.Info("duty started", "duty", d.Name)
				d.Run(ctx)
				c.log.Info("duty stopped", "duty", d.Name)
			}()
		}
	}()
	return l
}

// goApply applies a command in a goroutine of the leadership.
func (l *leadership) goApply(t MessageType, v any) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		if err := l.c.apply(l.ctx, t, v); err != nil && l.ctx.Err() == nil {
			l.c.log.Warn("raft command not applied", "type", t, "err", err)
		}
	}()
}

// end stops the leadership's duties and waits for them.
func (l *leadership) end() {
	if l == nil {
		return
	}
	l.cancel()
	l.wg.Wait()
}

// apply commits one command and returns its answer's error.
func (c *Cluster) apply(ctx context.Context, t MessageType, v any) error {
	_, err := c.applyAnswer(ctx, t, v)
	return err
}

// applyAnswer commits one command (leader only) and returns its answer.
func (c *Cluster) applyAnswer(ctx context.Context, t MessageType, v any) (any, error) {
	b, err := encode(t, v)
	if err != nil {
		return nil, err
	}
	timeout := applyTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	if timeout <= 0 {
		return nil, context.DeadlineExceeded
	}
	f := c.raft.Apply(b, timeout)
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return nil, fmt.Errorf("%w: %w", ErrNotLeader, err)
		}
		return nil, fmt.Errorf("raft apply: %w", err)
	}
	if err, ok := f.Response().(error); ok {
		return nil, err
	}
	return f.Response(), nil
}

// IsLeader reports whether this controller leads.
func (c *Cluster) IsLeader() bool { return c.raft.State() == raft.Leader }

// NodeID is this controller's id in the group.
func (c *Cluster) NodeID() string { return c.cfg.NodeID }

// Leader is the current leader's id and API URL ("" when none is known).
func (c *Cluster) Leader() (id, api string) {
	_, lid := c.raft.LeaderWithID()
	if lid == "" {
		return "", ""
	}
	return string(lid), c.fsm.member(string(lid)).API
}

// State is the replicated state as this controller has applied it.
func (c *Cluster) State() State { return c.fsm.read() }

// voters reads the current Raft configuration's voters.
func (c *Cluster) voters() []raft.Server {
	f := c.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil
	}
	var out []raft.Server
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			out = append(out, s)
		}
	}
	return out
}

// Size is the number of live voters (at least 1): the voters of the Raft
// configuration the leader has not recorded down.
func (c *Cluster) Size() int {
	n := 0
	for _, s := range c.voters() {
		if !c.fsm.member(string(s.ID)).Down {
			n++
		}
	}
	return max(n, 1)
}

// Controller is one member as GET /controllers shows it.
type Controller struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	// State is "leader", "follower", "candidate" or "unreachable", as
	// this controller sees it.
	State string `json:"state"`
}

// Controllers lists the voters in id order with their state as this
// controller sees it: its own Raft state; the known leader; others are
// followers, or unreachable when the leader records them down or when no
// leader is known (a candidate cannot tell).
func (c *Cluster) Controllers() []Controller {
	_, leader := c.raft.LeaderWithID()
	self := c.raft.State()
	var out []Controller
	for _, s := range c.voters() {
		id := string(s.ID)
		ctl := Controller{ID: id, Address: string(s.Address)}
		switch {
		case id == c.cfg.NodeID:
			switch self {
			case raft.Leader:
				ctl.State = "leader"
			case raft.Candidate:
				ctl.State = "candidate"
			case raft.Follower:
				ctl.State = "follower"
			default:
				ctl.State = "unreachable"
			}
		case raft.ServerID(id) == leader:
			ctl.State = "leader"
		case leader == "" || c.fsm.member(id).Down:
			ctl.State = "unreachable"
		default:
			ctl.State = "follower"
		}
		out = append(out, ctl)
	}
	slices.SortFunc(out, func(a, b Controller) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// leaderError is ErrNotLeader naming the leader, or ErrNoLeader.
func (c *Cluster) leaderError() error {
	id, api := c.Leader()
	if id == "" {
		return ErrNoLeader
	}
	return &NotLeaderError{LeaderID: id, LeaderAPI: api}
}

// NotLeaderError is returned to a request only the leader serves; it names
// the leader so that the request can be forwarded.
type NotLeaderError struct {
	LeaderID, LeaderAPI string
}

func (e *NotLeaderError) Error() string {
	return fmt.Sprintf("%s: the leader is %s (%s)", ErrNotLeader, e.LeaderID, e.LeaderAPI)
}

// Unwrap makes errors.Is(err, ErrNotLeader) hold.
func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }

// AddVoter adds a controller to the group (leader only; a follower answers
// a *NotLeaderError). Adding a member that is already a voter at the same
// address changes nothing.
func (c *Cluster) AddVoter(ctx context.Context, id, address, api string) error {
	if !c.IsLeader() {
		return c.leaderError()
	}
	if id == "" || address == "" {
		return fmt.Errorf("controller %q at %q: %w", id, address, ErrBadMember)
	}
	timeout := applyTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	if err := c.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(address), 0, timeout).Error(); err != nil {
		return fmt.Errorf("add controller %s: %w", id, err)
	}
	return c.apply(ctx, MemberType, Member{ID: id, Address: address, API: api})
}

// ErrBadMember is a member without an id or an address.
var ErrBadMember = errors.New("a controller needs an id and a Raft address")

// ErrUnknownMember is a member that is not in the group.
var ErrUnknownMember = errors.New("no such controller in the group")

// RemoveServer removes a controller from the group (leader only). The
// leader may remove itself: it steps down after the change commits.
func (c *Cluster) RemoveServer(ctx context.Context, id string) error {
	if !c.IsLeader() {
		return c.leaderError()
	}
	if !slices.ContainsFunc(c.voters(), func(s raft.Server) bool { return string(s.ID) == id }) {
		return fmt.Errorf("controller %q: %w", id, ErrUnknownMember)
	}
	timeout := applyTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	if err := c.raft.RemoveServer(raft.ServerID(id), 0, timeout).Error(); err != nil {
		return fmt.Errorf("remove controller %s: %w", id, err)
	}
	return nil
}

// RecordFire commits an alarm tick before its trigger fires. It answers
// true when this tick is newer than the schedule's last recorded one (fire
// it), false when a leader recorded it (or a later one) already. Only the
// leader can record; a deposed leader gets an error and must not fire.
func (c *Cluster) RecordFire(ctx context.Context, schedule string, tick time.Time) (bool, error) {
	v, err := c.applyAnswer(ctx, AlarmFireType, AlarmFire{Schedule: schedule, Tick: tick.UnixMilli()})
	if err != nil {
		return false, err
	}
	ok, _ := v.(bool)
	return ok, nil
}

// ForgetFires drops a deleted schedule's fire record (best effort: a
// follower leaves it to the leader's next change).
func (c *Cluster) ForgetFires(ctx context.Context, schedule string) error {
	return c.apply(ctx, AlarmForgetType, AlarmFire{Schedule: schedule})
}

// quietWriter passes Raft's log lines on, but at most one per quietEvery
// of those that repeat while a peer is down.
type quietWriter struct {
	w    io.Writer
	mu   sync.Mutex
	last map[string]time.Time
}

const quietEvery = 30 * time.Second

var repeating = []string{"failed to heartbeat to", "failed to appendEntries to", "failed to contact", "failed to make requestVote RPC"}

func (q *quietWriter) Write(p []byte) (int, error) {
	line := string(p)
	for _, r := range repeating {
		if !strings.Contains(line, r) {
			continue
		}
		q.mu.Lock()
		if q.last == nil {
			q.last = map[string]time.Time{}
		}
		key := r + peerOf(line)
		if time.Since(q.last[key]) < quietEvery {
			q.mu.Unlock()
			return len(p), nil
		}
		q.last[key] = time.Now()
		q.mu.Unlock()
		break
	}
	return q.w.Write(p)
}

// peerOf finds the peer an hclog line names (its "peer=" or "target=").
func peerOf(line string) string {
	for _, k := range []string{"peer=", "target=", "address="} {
		if _, rest, ok := strings.Cut(line, k); ok {
			f, _, _ := strings.Cut(rest, " ")
			return f
		}
	}
	return ""
}

// slogWriter logs each line hclog writes as a warning of log (Raft logs
// only warnings and errors here).
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level := slog.LevelWarn
	if strings.Contains(line, "[ERROR]") {
		level = slog.LevelError
	}
	// Elections are news, not problems.
	if strings.Contains(line, "heartbeat timeout reached, starting election") || strings.Contains(line, "Election timeout reached") {
		level = slog.LevelInfo
	}
	// hclog's line: "<time> [LEVEL] raft: message: k=v ..."; keep what follows the level.
	if i := strings.Index(line, "] "); i >= 0 && i < 48 {
		line = strings.TrimSpace(line[i+2:])
	}
	w.log.Log(context.Background(), level, line)
	return len(p), nil
}
