package api

import (
	"encoding/json"
	"testing"
)

func TestRuleUpgradesOldSchema(t *testing.T) {
	// Upstream's old rule documents named trigger and action relative to
	// the rule's namespace, and kept a status.
	var doc RuleDoc
	raw := `{"_id":"guest/r","_rev":"1-a","entityType":"rule","namespace":"guest","name":"r","version":"0.0.1",
		"publish":false,"annotations":[],"status":"active","trigger":"t","action":"a","updated":1}`
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.ID != "guest/r" || doc.Rev != "1-a" || doc.Trigger != (EntityRef{Path: "guest", Name: "t"}) || doc.Action != (EntityRef{Path: "guest", Name: "a"}) {
		t.Errorf("old schema read as %+v", doc)
	}
	b, _ := json.Marshal(doc.WithStatus(RuleInactive))
	want := `{"namespace":"guest","name":"r","version":"0.0.1","publish":false,"annotations":[],"status":"inactive",` +
		`"trigger":{"path":"guest","name":"t"},"action":{"path":"guest","name":"a"},"updated":1}`
	if string(b) != want {
		t.Errorf("response = %s, want %s", b, want)
	}
}

func TestDecodeRulePut(t *testing.T) {
	lim := DefaultLimits()
	p, err := DecodeRulePut([]byte(`{"trigger":"_/t","action":{"path":"whisk.system/utils","name":"echo"},"publish":true}`), "guest", lim)
	if err != nil {
		t.Fatal(err)
	}
	if *p.Trigger != (FullyQualifiedName{Namespace: "guest", Name: "t"}) ||
		*p.Action != (FullyQualifiedName{Namespace: "whisk.system", Package: "utils", Name: "echo"}) || !*p.Publish {
		t.Errorf("decoded %+v %+v", p.Trigger, p.Action)
	}
	for body, want := range map[string]string{
		`{"trigger":"t"}`:      MsgMalformedPrefix + "requirement failed: " + MsgMalformedFQN,
		`{"trigger":"/a/b!c"}`: MsgMalformedPrefix + MsgIllegalName,
		`{"action":7}`:         MsgMalformedPrefix + "fully qualified name malformed",
		`{"version":"1.x"}`:    MsgMalformedPrefix + "version must be a string of the form major.minor.patch",
	} {
		_, err := DecodeRulePut([]byte(body), "guest", lim)
		if e, ok := AsError(err); !ok || e.Message != want {
			t.Errorf("%s: err = %v, want %q", body, err, want)
		}
	}
}

func TestDecodeRuleStatus(t *testing.T) {
	if s, err := DecodeRuleStatus([]byte(`{"status":"active","trigger":null,"action":null}`)); err != nil || s != RuleActive {
		t.Errorf("status = %q, %v", s, err)
	}
	if _, err := DecodeRuleStatus([]byte(`{"status":"on"}`)); err == nil {
		t.Error("an unknown state was accepted")
	}
}
