package messaging

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

// Literal messages in the shape upstream's spray-json code writes them.
const (
	upstreamActivation = `{"transid":["Xb2dKq8VnE1eZ4CkT7s0LqYw3uPfRj6m",1700000000123],
 "action":{"path":"guest/pkg","name":"hello","version":"0.0.1","binding":"guest/mybinding"},
 "revision":"3-9f1c0a",
 "user":{"subject":"guest","namespace":{"name":"guest","uuid":"23bc46b1-71f6-4ed5-8c54-816aa4f8c502"},
         "authkey":{"api_key":"23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"},
         "rights":["READ","PUT","DELETE","ACTIVATE"],"limits":{"invocationsPerMinute":120,"allowedKinds":["nodejs:20"]}},
 "activationId":"6c9f2e1a5b7d4c3e9f2e1a5b7d4c3e9f",
 "rootControllerIndex":{"asString":"0","instanceType":"controller"},
 "blocking":true,
 "content":{"payload":"hello","n":[1,2.5,null]},
 "initArgs":["SECRET"],"lockedArgs":{"k":"enc"},
 "cause":"0a1b2c3d4e5f60718293a4b5c6d7e8f9","traceContext":{"traceparent":"00-abc-def-01"}}`

	upstreamActivationMinimal = `{"transid":["sid_invokerHealth",1700000000000],
 "action":{"path":"whisk.system","name":"invokerHealthTestAction0"},
 "revision":null,
 "user":{"subject":"whisk.system","namespace":{"name":"whisk.system","uuid":"7d2e43c7-8ac5-4b6f-9d0f-2f5a6c7b8d9e"},
         "authkey":{"api_key":"7d2e43c7-8ac5-4b6f-9d0f-2f5a6c7b8d9e:k"},"rights":[],"limits":{}},
 "activationId":"00000000000000000000000000000001",
 "rootControllerIndex":{"asString":"0","instanceType":"controller"},
 "blocking":false,"initArgs":[],"lockedArgs":{}}`

	upstreamInvoker = `{"instance":0,"userMemory":"2048 MB","instanceType":"invoker","tags":[],"dedicatedNamespaces":[]}`

	upstreamInvokerFull = `{"instance":3,"userMemory":"4096 MB","busyMemory":"256 MB","instanceType":"invoker",
 "tags":["gpu"],"dedicatedNamespaces":["ns1"],"uniqueName":"host-a","displayedName":"invoker-a"}`

	upstreamActivationRecord = `{"namespace":"guest","name":"hello","version":"0.0.1","subject":"guest",
 "activationId":"6c9f2e1a5b7d4c3e9f2e1a5b7d4c3e9f","start":1700000000200,"end":1700000000250,"duration":50,
 "response":{"statusCode":0,"result":{"payload":"hello"}},"logs":[],"annotations":[{"key":"path","value":"guest/hello"}],
 "publish":false}`

	upstreamCombined = `{"transid":["Xb2dKq8VnE1eZ4CkT7s0LqYw3uPfRj6m",1700000000123],"response":` + upstreamActivationRecord +
		`,"isSystemError":false,"instance":` + upstreamInvoker + `}`
	upstreamCombinedShrunk = `{"transid":["Xb2dKq8VnE1eZ4CkT7s0LqYw3uPfRj6m",1700000000123],
 "response":"6c9f2e1a5b7d4c3e9f2e1a5b7d4c3e9f","isSystemError":true,"instance":` + upstreamInvoker + `}`
	upstreamResult       = `{"transid":["Xb2dKq8VnE1eZ4CkT7s0LqYw3uPfRj6m",1700000000123],"response":` + upstreamActivationRecord + `}`
	upstreamResultShrunk = `{"transid":["Xb2dKq8VnE1eZ4CkT7s0LqYw3uPfRj6m",1700000000123],"response":"6c9f2e1a5b7d4c3e9f2e1a5b7d4c3e9f"}`
	upstreamCompletion   = `{"transid":["Xb2dKq8VnE1eZ4CkT7s0LqYw3uPfRj6m",1700000000123],
 "activationId":"6c9f2e1a5b7d4c3e9f2e1a5b7d4c3e9f","isSystemError":false,"instance":` + upstreamInvokerFull + `}`

	upstreamPing        = `{"name":` + upstreamInvoker + `,"isEnabled":true}`
	upstreamPingNoFlag  = `{"name":` + upstreamInvoker + `}`
	upstreamCacheInval  = `{"key":{"mainId":"guest/hello","secondaryId":"2-abc"},"instanceId":"controller0"}`
	upstreamCacheInval2 = `{"instanceId":"controller0","key":{"mainId":"guest/hello"}}`
)

// assertJSONEqual compares two JSON documents by value.
func assertJSONEqual(t *testing.T, want string, got []byte) {
	t.Helper()
	var w, g any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want is not JSON: %v", err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got is not JSON: %v\n%s", err, got)
	}
	if !reflect.DeepEqual(w, g) {
		t.Fatalf("JSON differs\nwant %s\ngot  %s", want, got)
	}
}

// roundTrip decodes literal into a T, checks it re-encodes to the same JSON,
// and returns the decoded value.
func roundTrip[T any](t *testing.T, literal string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(literal), &v); err != nil {
		t.Fatalf("decode: %v", err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	assertJSONEqual(t, literal, out)
	return v
}

func TestActivationMessageRoundTrip(t *testing.T) {
	m := roundTrip[ActivationMessage](t, upstreamActivation)
	if m.TransID.ID != "Xb2dKq8VnE1eZ4CkT7s0LqYw3uPfRj6m" || m.TransID.Start != 1700000000123 {
		t.Errorf("transid = %+v", m.TransID)
	}
	want := FullyQualifiedEntityName{Path: "guest/pkg", Name: "hello", Version: "0.0.1", Binding: "guest/mybinding"}
	if m.Action != want {
		t.Errorf("action = %+v", m.Action)
	}
	if m.User.AuthKey.APIKey == "" || len(m.User.Rights) != 4 || m.User.Namespace.Name != "guest" {
		t.Errorf("user = %+v", m.User)
	}
	if m.RootControllerIndex != NewControllerInstanceID("0") || !m.Blocking || m.Cause == "" {
		t.Errorf("message = %+v", m)
	}
	if m.InitArgs[0] != "SECRET" || m.LockedArgs["k"] != "enc" || m.TraceContext["traceparent"] == "" {
		t.Errorf("args = %v %v %v", m.InitArgs, m.LockedArgs, m.TraceContext)
	}

	min := roundTrip[ActivationMessage](t, upstreamActivationMinimal)
	if min.Revision != "" || min.Content != nil || min.Action.Version != "" || min.Cause != "" {
		t.Errorf("minimal = %+v", min)
	}
}

func TestActivationMessageNullContentAndDefaults(t *testing.T) {
	var m ActivationMessage
	in := `{"transid":["t",1],"action":{"path":"a","name":"b"},"revision":"1-x","user":{"subject":"s","namespace":{"name":"n","uuid":"u"},"authkey":{"api_key":"k"}},"activationId":"id","rootControllerIndex":{"asString":"0"},"blocking":false,"content":null}`
	if err := json.Unmarshal([]byte(in), &m); err != nil {
		t.Fatal(err)
	}
	if m.Content != nil {
		t.Fatalf("content = %q, want nil", m.Content)
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	assertJSONEqual(t, `{"transid":["t",1],"action":{"path":"a","name":"b"},"revision":"1-x",
	 "user":{"subject":"s","namespace":{"name":"n","uuid":"u"},"authkey":{"api_key":"k"},"rights":[],"limits":{}},
	 "activationId":"id","rootControllerIndex":{"asString":"0","instanceType":"controller"},"blocking":false,
	 "initArgs":[],"lockedArgs":{}}`, out)

	// Array content passes through unchanged.
	m.Content = json.RawMessage(`[1,2]`)
	out, _ = json.Marshal(m)
	back, err := ParseActivationMessage(out)
	if err != nil || string(back.Content) != `[1,2]` {
		t.Fatalf("array content: %v %s", err, back.Content)
	}
}

func TestParseActivationMessageRejects(t *testing.T) {
	for _, in := range []string{`{}`, `[]`, `{"transid":"x"}`, `{"transid":["a",1],"action":{"path":"a","name":"b"},"rootControllerIndex":{"asString":"0"}}`} {
		if _, err := ParseActivationMessage([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", in, err)
		}
	}
}

func TestActionNameStringForm(t *testing.T) {
	var n FullyQualifiedEntityName
	if err := json.Unmarshal([]byte(`"guest/pkg/hello"`), &n); err != nil {
		t.Fatal(err)
	}
	if n != (FullyQualifiedEntityName{Path: "guest/pkg", Name: "hello"}) {
		t.Fatalf("got %+v", n)
	}
}

func TestTransactionID(t *testing.T) {
	cases := []struct {
		in   string
		want TransactionID
		out  string
	}{
		{`["abc",1700000000000]`, TransactionID{ID: "abc", Start: 1700000000000}, `["abc",1700000000000]`},
		{`["abc",1700000000000,true]`, TransactionID{ID: "abc", Start: 1700000000000, ExtraLogging: true}, ""},
		{`["abc",1,["parent",0]]`, TransactionID{ID: "abc", Start: 1, Parent: &TransactionID{ID: "parent"}}, ""},
		{`["abc",1,true,["p",2,true]]`, TransactionID{ID: "abc", Start: 1, ExtraLogging: true,
			Parent: &TransactionID{ID: "p", Start: 2, ExtraLogging: true}}, ""},
		// Extra elements are tolerated and dropped.
		{`["abc",5,false,"x",{"y":1}]`, TransactionID{ID: "abc", Start: 5}, `["abc",5]`},
		{`["abc",1.7e12]`, TransactionID{ID: "abc", Start: 1700000000000}, `["abc",1700000000000]`},
	}
	for _, c := range cases {
		var got TransactionID
		if err := json.Unmarshal([]byte(c.in), &got); err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %+v", c.in, got)
		}
		out, _ := json.Marshal(got)
		want := c.out
		if want == "" {
			want = c.in
		}
		assertJSONEqual(t, want, out)
	}
	for _, bad := range []string{`"abc"`, `["abc"]`, `[1,2]`, `["abc","x"]`, `{}`} {
		var got TransactionID
		if err := json.Unmarshal([]byte(bad), &got); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", bad, err)
		}
	}
	tid := NewTransactionID("x", time.UnixMilli(42))
	if tid.Start != 42 || !tid.StartTime().Equal(time.UnixMilli(42)) || tid.String() != "#tid_x" {
		t.Errorf("NewTransactionID = %+v", tid)
	}
}

func TestAcknowledgementRoundTrip(t *testing.T) {
	cases := []struct {
		name      string
		in        string
		kind      AckKind
		shrunk    bool
		sysErr    bool
		freesSlot bool
	}{
		{"combined", upstreamCombined, AckCombined, false, false, true},
		{"combined shrunk", upstreamCombinedShrunk, AckCombined, true, true, true},
		{"result", upstreamResult, AckResult, false, false, false},
		{"result shrunk", upstreamResultShrunk, AckResult, true, false, false},
		{"completion", upstreamCompletion, AckCompletion, false, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, err := ParseAcknowledgement([]byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			if a.Kind != c.kind || a.Shrunk() != c.shrunk || a.IsSystemError != c.sysErr || a.FreesSlot() != c.freesSlot {
				t.Fatalf("got kind=%s shrunk=%v sysErr=%v", a.Kind, a.Shrunk(), a.IsSystemError)
			}
			if a.ActivationID != "6c9f2e1a5b7d4c3e9f2e1a5b7d4c3e9f" {
				t.Fatalf("activation id = %q", a.ActivationID)
			}
			out, err := json.Marshal(a)
			if err != nil {
				t.Fatal(err)
			}
			assertJSONEqual(t, c.in, out)
		})
	}
}

func TestAcknowledgementConstructors(t *testing.T) {
	tid := TransactionID{ID: "Xb2dKq8VnE1eZ4CkT7s0LqYw3uPfRj6m", Start: 1700000000123}
	inv := NewInvokerInstanceID(0, 2048)
	rec := json.RawMessage(upstreamActivationRecord)

	comb, err := NewCombinedAck(tid, rec, false, inv)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(comb)
	assertJSONEqual(t, upstreamCombined, out)

	shrunk := comb.Shrink()
	shrunk.IsSystemError = true
	out, _ = json.Marshal(shrunk)
	assertJSONEqual(t, upstreamCombinedShrunk, out)

	res, err := NewResultAck(tid, rec)
	if err != nil {
		t.Fatal(err)
	}
	out, _ = json.Marshal(res)
	assertJSONEqual(t, upstreamResult, out)
	out, _ = json.Marshal(res.Shrink())
	assertJSONEqual(t, upstreamResultShrunk, out)

	var full InvokerInstanceID
	if err := json.Unmarshal([]byte(upstreamInvokerFull), &full); err != nil {
		t.Fatal(err)
	}
	out, _ = json.Marshal(NewCompletionAck(tid, "6c9f2e1a5b7d4c3e9f2e1a5b7d4c3e9f", false, full))
	assertJSONEqual(t, upstreamCompletion, out)

	if _, err := NewResultAck(tid, json.RawMessage(`{"name":"x"}`)); !errors.Is(err, ErrMalformed) {
		t.Errorf("record without id: err = %v", err)
	}
}

func TestAcknowledgementRejects(t *testing.T) {
	for _, in := range []string{
		`{"transid":["a",1]}`,                                    // result without response
		`{"transid":["a",1],"response":3}`,                       // neither object nor string
		`{"transid":["a",1],"response":{"x":1}}`,                 // record without activationId
		`{"transid":["a",1],"instance":` + upstreamInvoker + `}`, // completion without activationId
		`{"transid":["a",1],"activationId":"x","instance":{"instance":0,"userMemory":"1 MB","instanceType":"controller"}}`,
		`[]`,
	} {
		if _, err := ParseAcknowledgement([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", in, err)
		}
	}
}

func TestInvokerInstanceIDRoundTrip(t *testing.T) {
	i := roundTrip[InvokerInstanceID](t, upstreamInvoker)
	if !reflect.DeepEqual(i, InvokerInstanceID{Instance: 0, UserMemory: "2048 MB", InstanceType: "invoker",
		Tags: []string{}, DedicatedNamespaces: []string{}}) {
		t.Errorf("got %+v", i)
	}
	full := roundTrip[InvokerInstanceID](t, upstreamInvokerFull)
	if full.UniqueName != "host-a" || full.DisplayedName != "invoker-a" || full.BusyMemory != "256 MB" || full.Tags[0] != "gpu" {
		t.Errorf("got %+v", full)
	}
	out, _ := json.Marshal(NewInvokerInstanceID(0, 2048))
	assertJSONEqual(t, upstreamInvoker, out)
	if s := NewInvokerInstanceID(7, 1).String(); s != "invoker7" {
		t.Errorf("String = %q", s)
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]int64{"2048 MB": 2048 << 20, "2g": 2 << 30, "512 B": 512, "4KB": 4096, " 1 M ": 1 << 20} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := ParseByteSize("lots"); !errors.Is(err, ErrMalformed) {
		t.Errorf("err = %v", err)
	}
	if FormatMB(256) != "256 MB" {
		t.Error(FormatMB(256))
	}
}

func TestPingMessageRoundTrip(t *testing.T) {
	p := roundTrip[PingMessage](t, upstreamPing)
	if !p.Enabled() || p.Name.Instance != 0 {
		t.Errorf("got %+v", p)
	}
	p2 := roundTrip[PingMessage](t, upstreamPingNoFlag)
	if !p2.Enabled() || p2.IsEnabled != nil {
		t.Errorf("absent isEnabled: %+v", p2)
	}
	out, _ := json.Marshal(NewPingMessage(NewInvokerInstanceID(0, 2048), false))
	assertJSONEqual(t, `{"name":`+upstreamInvoker+`,"isEnabled":false}`, out)
}

func TestCacheInvalidationRoundTrip(t *testing.T) {
	c := roundTrip[CacheInvalidationMessage](t, upstreamCacheInval)
	if c.Key.MainID != "guest/hello" || c.Key.SecondaryID != "2-abc" || c.InstanceID != "controller0" {
		t.Errorf("got %+v", c)
	}
	c2 := roundTrip[CacheInvalidationMessage](t, upstreamCacheInval2)
	if c2.Key.SecondaryID != "" {
		t.Errorf("got %+v", c2)
	}
}

func TestTopicNames(t *testing.T) {
	if InvokerTopic(3) != "invoker3" || CompletedTopic("0") != "completed0" || HealthTopic != "health" ||
		CacheInvalidationTopic != "cacheInvalidation" {
		t.Fatal("topic names differ from upstream")
	}
	if DefaultMaxMessageBytes != 1048576+6068 {
		t.Fatal(DefaultMaxMessageBytes)
	}
	if InvokerTopicSpec(1).RetentionMs != 172800000 || CompletedTopicSpec("0").RetentionMs != 3600000 ||
		HealthTopicSpec().RetentionMs != 3600000 || CacheInvalidationTopicSpec().RetentionMs != 300000 {
		t.Fatal("retention differs from upstream")
	}
}
