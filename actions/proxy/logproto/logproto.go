// Package logproto is the log protocol between an action container and the
// invoker: how the action proxy (and the nodejs and python launchers it
// starts) frame the lines written to the container's stdout and stderr, and
// how the invoker reads them back. It is the one Go definition of that
// protocol; the action proxy writes with it and the invoker parses with it.
//
// A log line written on behalf of activation X (the /run body's
// "activation_id", as the action sees it in __OW_ACTIVATION_ID) is
//
//	TagStart + X + TagEnd + text + "\n"   ("\x01" X "\x02" text "\n")
//
// X is a tag only if ValidTag accepts it: not empty and free of control
// characters (bytes below 0x20), so a tag can never hold TagStart, TagEnd or
// a newline. A run without a valid id is not tagged at all; its lines, and
// lines that belong to no activation in progress, are written untagged, as
// text + "\n". A reader gives an untagged line to whatever activation is
// running at the time.
//
// After each activation the Sentinel is written as a line of its own on both
// streams, tagged like the activation's lines (SentinelLine); after a failed
// initialization, or for a run without an id, it is untagged. Every line of
// an activation comes before its sentinel on the same stream, so a reader
// that has seen the sentinel on both streams has all of the activation's
// logs.
//
// Every tagged line and sentinel starts on a line of its own: a tag is only
// recognized at the start of a line (Split).
//
// The launchers (actions/proxy/launcher/launcher.js and launcher.py) are not
// Go and carry their own copy of these constants; the proxy's tests run them
// and parse their output with this package.
package logproto

import "strings"

// Sentinel ends an activation's logs on each stream (and the logs of a
// failed initialization), as upstream OpenWhisk's runtimes print it.
const Sentinel = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"

// TagStart and TagEnd frame the activation id at the start of a tagged line.
const (
	TagStart = '\x01'
	TagEnd   = '\x02'
)

// ValidTag reports whether id can tag log lines: not empty and free of
// control characters, which would break the line framing.
func ValidTag(id string) bool {
	if id == "" {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 {
			return false
		}
	}
	return true
}

// AppendLine appends text as one log line to dst: tagged with tag, or
// untagged when tag is empty, and ended with a newline. text must not hold a
// newline; the caller checks tag with ValidTag.
func AppendLine(dst []byte, tag string, text []byte) []byte {
	if tag != "" {
		dst = append(append(append(dst, TagStart), tag...), TagEnd)
	}
	return append(append(dst, text...), '\n')
}

// Line returns text framed as one log line (see AppendLine).
func Line(tag, text string) string {
	return string(AppendLine(make([]byte, 0, len(tag)+len(text)+3), tag, []byte(text)))
}

// SentinelLine returns the sentinel line that ends the logs of activation
// tag (untagged when tag is empty).
func SentinelLine(tag string) []byte {
	return AppendLine(make([]byte, 0, len(tag)+len(Sentinel)+3), tag, []byte(Sentinel))
}

// Split separates a log line (without its newline) into its activation tag
// and its text. A line is tagged when it starts with TagStart and holds a
// TagEnd; otherwise it is returned whole as untagged text.
func Split(line string) (tag, text string, tagged bool) {
	if len(line) == 0 || line[0] != TagStart {
		return "", line, false
	}
	i := strings.IndexByte(line, TagEnd)
	if i < 0 {
		return "", line, false
	}
	return line[1:i], line[i+1:], true
}

// IsSentinel reports whether text, a line's text after Split, is the
// sentinel.
func IsSentinel(text string) bool { return text == Sentinel }
