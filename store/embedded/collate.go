package embedded

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Keys are handled in canonical form: the values encoding/json produces when
// decoding into any (nil, bool, float64, string, []any, map[string]any).

// normalizeKey converts a Go value to canonical JSON form. json.RawMessage is
// parsed; other non-canonical values go through a JSON round trip. NaN and
// infinities become null, as JSON.stringify does.
func normalizeKey(v any) (any, error) {
	switch t := v.(type) {
	case nil, bool, string:
		return t, nil
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return nil, nil
		}
		return t, nil
	case int:
		return float64(t), nil
	case int64:
		return float64(t), nil
	case json.RawMessage:
		var out any
		if err := json.Unmarshal(t, &out); err != nil {
			return nil, fmt.Errorf("parse key %q: %w", string(t), err)
		}
		return out, nil
	case json.Number:
		f, err := t.Float64()
		if err != nil {
			return nil, fmt.Errorf("parse number %q: %w", string(t), err)
		}
		return f, nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			n, err := normalizeKey(e)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			n, err := normalizeKey(e)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode key of type %T: %w", v, err)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("decode key of type %T: %w", v, err)
	}
	return out, nil
}

// typeRank gives CouchDB's order of JSON types.
func typeRank(v any) int {
	switch t := v.(type) {
	case nil:
		return 0
	case bool:
		if !t {
			return 1
		}
		return 2
	case float64:
		return 3
	case string:
		return 4
	case []any:
		return 5
	case map[string]any:
		return 6
	}
	panic(fmt.Sprintf("brisk-embedded: non-canonical key type %T", v))
}

// collate compares two canonical keys: null < false < true < numbers <
// strings (code point order) < arrays (element-wise, shorter prefix first) <
// objects (members sorted by key, compared key then value, fewer first).
func collate(a, b any) int {
	ra, rb := typeRank(a), typeRank(b)
	if ra != rb {
		return cmpInt(ra, rb)
	}
	switch at := a.(type) {
	case float64:
		bt := b.(float64)
		switch {
		case at < bt:
			return -1
		case at > bt:
			return 1
		}
		return 0
	case string:
		return strings.Compare(at, b.(string))
	case []any:
		bt := b.([]any)
		for i := 0; i < len(at) && i < len(bt); i++ {
			if c := collate(at[i], bt[i]); c != 0 {
				return c
			}
		}
		return cmpInt(len(at), len(bt))
	case map[string]any:
		bt := b.(map[string]any)
		ak, bk := sortedKeys(at), sortedKeys(bt)
		for i := 0; i < len(ak) && i < len(bk); i++ {
			if c := strings.Compare(ak[i], bk[i]); c != 0 {
				return c
			}
			if c := collate(at[ak[i]], bt[bk[i]]); c != 0 {
				return c
			}
		}
		return cmpInt(len(ak), len(bk))
	}
	return 0 // null, false, true: equal rank means equal
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Binary key encoding. bytes.Compare on encodings agrees with collate, and an
// encoding is never a prefix of another one, so (key, doc id) pairs can be
// concatenated and still sort by key first.
const (
	tagEnd    = 0x00 // closes arrays and objects; sorts below every element
	tagNull   = 0x02
	tagFalse  = 0x03
	tagTrue   = 0x04
	tagNumber = 0x05
	tagString = 0x06
	tagArray  = 0x07
	tagObject = 0x08

	// highByte sorts above any tag: enc(k)+highByte is above every row whose
	// key is k.
	highByte = 0xFF
)

// appendKey appends the order-preserving encoding of canonical key v.
func appendKey(dst []byte, v any) []byte {
	switch t := v.(type) {
	case nil:
		return append(dst, tagNull)
	case bool:
		if t {
			return append(dst, tagTrue)
		}
		return append(dst, tagFalse)
	case float64:
		if t == 0 {
			t = 0 // -0 collates equal to 0
		}
		bits := math.Float64bits(t)
		if bits&(1<<63) != 0 {
			bits = ^bits
		} else {
			bits |= 1 << 63
		}
		dst = append(dst, tagNumber)
		return binary.BigEndian.AppendUint64(dst, bits)
	case string:
		return appendString(dst, t)
	case []any:
		dst = append(dst, tagArray)
		for _, e := range t {
			dst = appendKey(dst, e)
		}
		return append(dst, tagEnd)
	case map[string]any:
		dst = append(dst, tagObject)
		for _, k := range sortedKeys(t) {
			dst = appendString(dst, k)
			dst = appendKey(dst, t[k])
		}
		return append(dst, tagEnd)
	}
	panic(fmt.Sprintf("brisk-embedded: non-canonical key type %T", v))
}

// appendString encodes a string: tag, bytes with 0x00 escaped as 0x00 0xFF,
// then 0x00 0x01. Byte order is code point order for valid UTF-8.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, tagString)
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			dst = append(dst, 0x00, 0xFF)
			continue
		}
		dst = append(dst, s[i])
	}
	return append(dst, 0x00, 0x01)
}

var errBadEncoding = errors.New("malformed key encoding")

// decodeKey decodes one encoded key from b, returning the rest.
func decodeKey(b []byte) (any, []byte, error) {
	if len(b) == 0 {
		return nil, nil, errBadEncoding
	}
	switch b[0] {
	case tagNull:
		return nil, b[1:], nil
	case tagFalse:
		return false, b[1:], nil
	case tagTrue:
		return true, b[1:], nil
	case tagNumber:
		if len(b) < 9 {
			return nil, nil, errBadEncoding
		}
		bits := binary.BigEndian.Uint64(b[1:9])
		if bits&(1<<63) != 0 {
			bits &^= 1 << 63
		} else {
			bits = ^bits
		}
		return math.Float64frombits(bits), b[9:], nil
	case tagString:
		return decodeString(b)
	case tagArray:
		out := []any{}
		b = b[1:]
		for {
			if len(b) == 0 {
				return nil, nil, errBadEncoding
			}
			if b[0] == tagEnd {
				return out, b[1:], nil
			}
			var e any
			var err error
			if e, b, err = decodeKey(b); err != nil {
				return nil, nil, err
			}
			out = append(out, e)
		}
	case tagObject:
		out := map[string]any{}
		b = b[1:]
		for {
			if len(b) == 0 {
				return nil, nil, errBadEncoding
			}
			if b[0] == tagEnd {
				return out, b[1:], nil
			}
			k, rest, err := decodeString(b)
			if err != nil {
				return nil, nil, err
			}
			var e any
			if e, b, err = decodeKey(rest); err != nil {
				return nil, nil, err
			}
			out[k.(string)] = e
		}
	}
	return nil, nil, errBadEncoding
}

func decodeString(b []byte) (any, []byte, error) {
	if len(b) == 0 || b[0] != tagString {
		return nil, nil, errBadEncoding
	}
	var sb []byte
	for i := 1; i+1 < len(b); i++ {
		if b[i] != 0 {
			sb = append(sb, b[i])
			continue
		}
		switch b[i+1] {
		case 0xFF:
			sb = append(sb, 0)
			i++
		case 0x01:
			return string(sb), b[i+2:], nil
		default:
			return nil, nil, errBadEncoding
		}
	}
	return nil, nil, errBadEncoding
}

// rowKey is the index key of one emitted row: key, doc id, and the emit's
// ordinal within the doc (a doc may emit the same key twice).
func rowKey(keyEnc []byte, docID string, ordinal uint32) []byte {
	out := make([]byte, 0, len(keyEnc)+len(docID)+8)
	out = append(out, keyEnc...)
	out = appendString(out, docID)
	return binary.BigEndian.AppendUint32(out, ordinal)
}

// splitRowKey returns the encoded key part, the decoded key and the doc id of
// an index row key.
func splitRowKey(rk []byte) (keyEnc []byte, key any, docID string, err error) {
	key, rest, err := decodeKey(rk)
	if err != nil {
		return nil, nil, "", err
	}
	keyEnc = rk[:len(rk)-len(rest)]
	id, rest, err := decodeString(rest)
	if err != nil {
		return nil, nil, "", err
	}
	if len(rest) != 4 {
		return nil, nil, "", errBadEncoding
	}
	return keyEnc, key, id.(string), nil
}

// withHigh returns b followed by highByte (a fresh slice).
func withHigh(b []byte) []byte {
	out := make([]byte, len(b)+1)
	copy(out, b)
	out[len(b)] = highByte
	return out
}
