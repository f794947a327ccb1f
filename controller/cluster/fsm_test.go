package cluster

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
)

func mustEncode(t *testing.T, typ MessageType, v any) *raft.Log {
	t.Helper()
	b, err := encode(typ, v)
	if err != nil {
		t.Fatal(err)
	}
	return &raft.Log{Index: 1, Data: b}
}

func TestFSMApplyByType(t *testing.T) {
	f := newFSM()
	f.Apply(mustEncode(t, MemberType, Member{ID: "c0", Address: "10.0.0.1:7000", API: "http://10.0.0.1:3233"}))
	f.Apply(mustEncode(t, MemberLiveType, map[string]any{"id": "c0", "down": true}))
	// A later address update keeps the liveness and the API it does not name.
	f.Apply(mustEncode(t, MemberType, Member{ID: "c0", Address: "10.0.0.9:7000"}))
	f.Apply(mustEncode(t, DutyType, DutyOwner{Name: "alarms", Owner: "c0", Term: 3}))
	st := f.read()
	want := Member{ID: "c0", Address: "10.0.0.9:7000", API: "http://10.0.0.1:3233", Down: true}
	if st.Members["c0"] != want {
		t.Fatalf("member %+v, want %+v", st.Members["c0"], want)
	}
	if st.Duties["alarms"] != (DutyOwner{Name: "alarms", Owner: "c0", Term: 3}) {
		t.Fatalf("duty %+v", st.Duties["alarms"])
	}

	// Alarm ticks: each is accepted once, never an older one after a newer.
	for _, c := range []struct {
		tick int64
		want bool
	}{{1000, true}, {1000, false}, {3000, true}, {2000, false}, {4000, true}} {
		if got := f.Apply(mustEncode(t, AlarmFireType, AlarmFire{Schedule: "guest/t", Tick: c.tick})); got != c.want {
			t.Errorf("tick %d: %v, want %v", c.tick, got, c.want)
		}
	}
	f.Apply(mustEncode(t, AlarmForgetType, AlarmFire{Schedule: "guest/t"}))
	if got := f.Apply(mustEncode(t, AlarmFireType, AlarmFire{Schedule: "guest/t", Tick: 1000})); got != true {
		t.Errorf("after forgetting the schedule, tick 1000: %v", got)
	}

	// Bad bodies are errors, not panics; an unknown type marked ignorable
	// is skipped.
	if _, ok := f.Apply(&raft.Log{Data: append([]byte{byte(DutyType)}, "{"...)}).(error); !ok {
		t.Error("a malformed command was applied")
	}
	if got := f.Apply(&raft.Log{Data: append([]byte{byte(IgnoreUnknownFlag | 77)}, "{}"...)}); got != nil {
		t.Errorf("an ignorable unknown command answered %v", got)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("an unknown command without the ignore flag was applied silently")
			}
		}()
		f.Apply(&raft.Log{Data: []byte{77}})
	}()
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct{ bytes.Buffer }

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { return nil }
func (s *memSink) Close() error  { return nil }

func TestFSMSnapshotRestore(t *testing.T) {
	f := newFSM()
	f.Apply(mustEncode(t, MemberType, Member{ID: "c1", Address: "127.0.0.1:1", API: "http://127.0.0.1:2"}))
	f.Apply(mustEncode(t, MemberLiveType, map[string]any{"id": "c2", "down": true}))
	f.Apply(mustEncode(t, DutyType, DutyOwner{Name: "retention", Owner: "c1", Term: 9}))
	f.Apply(mustEncode(t, AlarmFireType, AlarmFire{Schedule: "ns/trig", Tick: 42}))
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Changes after the snapshot are not in it.
	f.Apply(mustEncode(t, AlarmFireType, AlarmFire{Schedule: "ns/trig", Tick: 43}))
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	if !json.Valid(sink.Bytes()) {
		t.Fatalf("snapshot is not JSON: %s", sink.Bytes())
	}
	g := newFSM()
	if err := g.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	want := newState()
	want.Members["c1"] = Member{ID: "c1", Address: "127.0.0.1:1", API: "http://127.0.0.1:2"}
	want.Members["c2"] = Member{ID: "c2", Down: true}
	want.Duties["retention"] = DutyOwner{Name: "retention", Owner: "c1", Term: 9}
	want.Fires["ns/trig"] = 42
	if got := g.read(); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored %+v, want %+v", got, want)
	}
	if err := g.Restore(io.NopCloser(bytes.NewReader([]byte("not json")))); err == nil {
		t.Fatal("a corrupt snapshot was restored")
	}
}
