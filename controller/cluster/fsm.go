package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"

	"github.com/hashicorp/raft"
)

// MessageType is the first byte of every command in the Raft log: it says
// how the JSON after it is applied.
//
// Adding a command (the checklist):
//  1. a new MessageType constant, appended (never renumber: the log holds
//     the old numbers);
//  2. its request struct and an applyXxx method on *fsm that changes state
//     under the lock and returns the command's answer;
//  3. a case in fsm.Apply;
//  4. if it adds state, the field in State (snapshots carry it), and a
//     case in TestFSMSnapshotRestore;
//  5. a Cluster method that encodes and applies it (leader only).
//
// A node that meets a type it does not know (an older binary in a rolling
// upgrade) ignores it when the type has IgnoreUnknownFlag set, and fails
// loudly otherwise.
type MessageType uint8

// The commands.
const (
	// MemberType records a controller's addresses (its Raft address and its
	// API URL, used to forward requests to the leader).
	MemberType MessageType = 1
	// MemberLiveType records whether the leader hears a controller's
	// heartbeats; the balancers divide invoker memory by the live voters.
	MemberLiveType MessageType = 2
	// DutyType records which controller holds a leader-only duty.
	DutyType MessageType = 3
	// AlarmFireType records an alarm tick before its trigger fires, so that
	// no tick fires twice across leaders.
	AlarmFireType MessageType = 4
	// AlarmForgetType drops an alarm schedule's fire record (the schedule
	// was deleted).
	AlarmForgetType MessageType = 5

	// IgnoreUnknownFlag marks a command older nodes may skip.
	IgnoreUnknownFlag MessageType = 128
)

// Member is one controller as the replicated state records it.
type Member struct {
	ID      string `json:"id"`
	Address string `json:"address"`       // Raft address
	API     string `json:"api,omitempty"` // base URL of its REST API
	// Down is set by the leader while it does not hear the member's
	// heartbeats.
	Down bool `json:"down,omitempty"`
}

// DutyOwner is who holds a leader-only duty, since which Raft term.
type DutyOwner struct {
	Name  string `json:"name"`
	Owner string `json:"owner"`
	Term  uint64 `json:"term"`
}

// AlarmFire is one alarm tick: the schedule (its document id) and the
// tick's time in Unix milliseconds.
type AlarmFire struct {
	Schedule string `json:"schedule"`
	Tick     int64  `json:"tick"`
}

// State is the replicated state: what a snapshot holds.
type State struct {
	Members map[string]Member    `json:"members"`
	Duties  map[string]DutyOwner `json:"duties"`
	// Fires maps an alarm schedule to its last fired tick.
	Fires map[string]int64 `json:"fires"`
}

func newState() State {
	return State{Members: map[string]Member{}, Duties: map[string]DutyOwner{}, Fires: map[string]int64{}}
}

func (s State) clone() State {
	return State{Members: maps.Clone(s.Members), Duties: maps.Clone(s.Duties), Fires: maps.Clone(s.Fires)}
}

// errUnknownCommand is a command of a type this binary does not know.
var errUnknownCommand = errors.New("unknown raft command")

// fsm is the Raft state machine: State under a lock.
type fsm struct {
	mu    sync.RWMutex
	state State
}

func newFSM() *fsm { return &fsm{state: newState()} }

// encode makes a log entry: the type byte, then v as JSON.
func encode(t MessageType, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode raft command %d: %w", t, err)
	}
	return append([]byte{byte(t)}, b...), nil
}

// Apply implements raft.FSM: it dispatches on the type byte. The returned
// value is the command's answer (an error, or the type's result).
func (f *fsm) Apply(l *raft.Log) any {
	if len(l.Data) == 0 {
		return fmt.Errorf("empty raft command: %w", errUnknownCommand)
	}
	t, body := MessageType(l.Data[0]), l.Data[1:]
	switch t &^ IgnoreUnknownFlag {
	case MemberType:
		var m Member
		if err := json.Unmarshal(body, &m); err != nil {
			return fmt.Errorf("member command: %w", err)
		}
		return f.applyMember(m)
	case MemberLiveType:
		var m struct {
			ID   string `json:"id"`
			Down bool   `json:"down"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			return fmt.Errorf("member-live command: %w", err)
		}
		return f.applyMemberLive(m.ID, m.Down)
	case DutyType:
		var d DutyOwner
		if err := json.Unmarshal(body, &d); err != nil {
			return fmt.Errorf("duty command: %w", err)
		}
		return f.applyDuty(d)
	case AlarmFireType:
		var a AlarmFire
		if err := json.Unmarshal(body, &a); err != nil {
			return fmt.Errorf("alarm-fire command: %w", err)
		}
		return f.applyAlarmFire(a)
	case AlarmForgetType:
		var a AlarmFire
		if err := json.Unmarshal(body, &a); err != nil {
			return fmt.Errorf("alarm-forget command: %w", err)
		}
		return f.applyAlarmForget(a.Schedule)
	}
	if t&IgnoreUnknownFlag != 0 {
		return nil
	}
	panic(fmt.Sprintf("raft log entry %d has command type %d, which this brisk does not know: upgrade it", l.Index, t))
}

// applyMember records a member's addresses, keeping its Down flag.
func (f *fsm) applyMember(m Member) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	if old, ok := f.state.Members[m.ID]; ok {
		m.Down = old.Down
		if m.API == "" {
			m.API = old.API
		}
	}
	f.state.Members[m.ID] = m
	return nil
}

// applyMemberLive records whether the leader hears a member; a member not
// known yet is recorded by id alone.
func (f *fsm) applyMemberLive(id string, down bool) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.state.Members[id]
	m.ID, m.Down = id, down
	f.state.Members[id] = m
	return nil
}

// applyDuty records a duty's owner.
func (f *fsm) applyDuty(d DutyOwner) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state.Duties[d.Name] = d
	return nil
}

// applyAlarmFire records a tick when it is later than the schedule's last
// recorded one and answers whether it did: true means the caller may fire.
func (f *fsm) applyAlarmFire(a AlarmFire) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	if last, ok := f.state.Fires[a.Schedule]; ok && a.Tick <= last {
		return false
	}
	f.state.Fires[a.Schedule] = a.Tick
	return true
}

// applyAlarmForget drops a schedule's record.
func (f *fsm) applyAlarmForget(schedule string) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.state.Fires, schedule)
	return nil
}

// member returns one member's record (the zero Member when unknown),
// without copying the state.
func (f *fsm) member(id string) Member {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.Members[id]
}

// read returns a copy of the state.
func (f *fsm) read() State {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.clone()
}

// Snapshot implements raft.FSM.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return &snapshot{state: f.read()}, nil
}

// Restore implements raft.FSM: it replaces the state with a snapshot's.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st := newState()
	if err := json.NewDecoder(rc).Decode(&st); err != nil {
		return fmt.Errorf("restore raft snapshot: %w", err)
	}
	if st.Members == nil {
		st.Members = map[string]Member{}
	}
	if st.Duties == nil {
		st.Duties = map[string]DutyOwner{}
	}
	if st.Fires == nil {
		st.Fires = map[string]int64{}
	}
	f.mu.Lock()
	f.state = st
	f.mu.Unlock()
	return nil
}

// snapshot is a point-in-time copy of the state.
type snapshot struct{ state State }

// Persist implements raft.FSMSnapshot.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(s.state); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist raft snapshot: %w", err)
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (s *snapshot) Release() {}
