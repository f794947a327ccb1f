package logproto_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/brisk-serverless/brisk/actions/proxy/logproto"
)

func TestLineFraming(t *testing.T) {
	cases := []struct{ tag, text, want string }{
		{"abc", "hello", "\x01abc\x02hello\n"},
		{"abc", "", "\x01abc\x02\n"},
		{"", "plain", "plain\n"},
		{"", "", "\n"},
	}
	for _, c := range cases {
		if got := logproto.Line(c.tag, c.text); got != c.want {
			t.Errorf("Line(%q, %q) = %q, want %q", c.tag, c.text, got, c.want)
		}
		if got := string(logproto.AppendLine([]byte("prefix "), c.tag, []byte(c.text))); got != "prefix "+c.want {
			t.Errorf("AppendLine(%q, %q) = %q", c.tag, c.text, got)
		}
	}
	if got, want := string(logproto.SentinelLine("act")), "\x01act\x02XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\n"; got != want {
		t.Errorf("SentinelLine(act) = %q, want %q", got, want)
	}
	if got, want := string(logproto.SentinelLine("")), "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\n"; got != want {
		t.Errorf("SentinelLine() = %q, want %q", got, want)
	}
}

func TestSplit(t *testing.T) {
	for in, want := range map[string][3]string{
		"\x01abc\x02text":  {"abc", "text", "true"},
		"\x01abc\x02":      {"abc", "", "true"},
		"\x01\x02text":     {"", "text", "true"},
		"plain":            {"", "plain", "false"},
		"\x01no end":       {"", "\x01no end", "false"},
		"":                 {"", "", "false"},
		"x\x01abc\x02text": {"", "x\x01abc\x02text", "false"},
	} {
		tag, text, ok := logproto.Split(in)
		if tag != want[0] || text != want[1] || fmt.Sprint(ok) != want[2] {
			t.Errorf("Split(%q) = %q, %q, %v; want %q", in, tag, text, ok, want)
		}
	}
}

// TestRoundTrip: whatever a writer frames with a valid tag, Split gives
// back unchanged, sentinels included.
func TestRoundTrip(t *testing.T) {
	tags := []string{"", "a", "0123456789abcdef0123456789abcdef", "ünïcødé", "with space", "x\x7f"}
	texts := []string{"", "text", "\x01looks\x02tagged", "tab\there", logproto.Sentinel}
	for _, tag := range tags {
		if tag != "" && !logproto.ValidTag(tag) {
			t.Fatalf("ValidTag(%q) = false", tag)
		}
		for _, text := range texts {
			line := logproto.Line(tag, text)
			if !strings.HasSuffix(line, "\n") || strings.Count(line, "\n") != 1 {
				t.Fatalf("Line(%q, %q) = %q is not one line", tag, text, line)
			}
			gotTag, gotText, tagged := logproto.Split(strings.TrimSuffix(line, "\n"))
			if tag == "" && strings.HasPrefix(text, "\x01") {
				continue // untagged text that looks tagged is the writer's problem (see ValidTag)
			}
			if gotTag != tag || gotText != text || tagged != (tag != "") {
				t.Errorf("Split(Line(%q, %q)) = %q, %q, %v", tag, text, gotTag, gotText, tagged)
			}
			if logproto.IsSentinel(gotText) != (text == logproto.Sentinel) {
				t.Errorf("IsSentinel(%q) wrong", gotText)
			}
		}
	}
}

func TestValidTag(t *testing.T) {
	for id, want := range map[string]bool{
		"":                    false,
		"act0":                true,
		"9f2c1e0d4b5a":        true,
		"with space":          true,
		"bad\nid":             false,
		"bad\x01id":           false,
		"bad\x02id":           false,
		"tab\t":               false,
		"\x1f":                false,
		"ünïcødé":             true,
		"slash/and:colon-ok_": true,
	} {
		if got := logproto.ValidTag(id); got != want {
			t.Errorf("ValidTag(%q) = %v, want %v", id, got, want)
		}
	}
}
