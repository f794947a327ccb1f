package embedded

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// ordered is a list of keys in strictly increasing collation order.
var ordered = []string{
	`null`, `false`, `true`,
	`-1e300`, `-2`, `-1.5`, `0`, `1e-300`, `1`, `1.5`, `2`, `1700000000000`, `1e300`,
	`""`, `"\u0000"`, `"\u0000a"`, `"A"`, `"B"`, `"a"`, `"a\u0000"`, `"aa"`, `"b"`, `"guest"`, `"guest/"`, `"guest/pkg"`,
	`"é"`, `"\ufff0"`, `"😀"`,
	`[]`, `[null]`, `[false]`, `[1]`, `[1,null]`, `[1,2]`, `[2]`, `["guest"]`, `["guest",0]`, `["guest",1700000000000]`,
	`["guest","\ufff0"]`, `["guest","\ufff0","\ufff0"]`, `["guest",[]]`, `["guest",{}]`, `["guest/pkg",0]`, `[[]]`, `[{}]`,
	`{}`, `{"a":null}`, `{"a":1}`, `{"a":1,"b":1}`, `{"a":2}`, `{"b":0}`,
}

func mustKey(t testing.TB, s string) any {
	t.Helper()
	v, err := normalizeKey(json.RawMessage(s))
	if err != nil {
		t.Fatalf("key %s: %v", s, err)
	}
	return v
}

func TestCollateAndEncodingOrder(t *testing.T) {
	for i := range ordered {
		for j := range ordered {
			a, b := mustKey(t, ordered[i]), mustKey(t, ordered[j])
			want := cmpInt(i, j)
			if got := collate(a, b); got != want {
				t.Errorf("collate(%s, %s) = %d, want %d", ordered[i], ordered[j], got, want)
			}
			if got := bytes.Compare(appendKey(nil, a), appendKey(nil, b)); got != want {
				t.Errorf("encoding order of %s, %s = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
}

func TestKeyEncodingRoundTrip(t *testing.T) {
	for _, s := range append(ordered, `-0`, `{"z":[1,{"y":"\u0000"}],"a":true}`) {
		k := mustKey(t, s)
		enc := appendKey(nil, k)
		got, rest, err := decodeKey(enc)
		if err != nil || len(rest) != 0 || collate(got, k) != 0 {
			t.Fatalf("decode(encode(%s)) = %v, rest %x, err %v", s, got, rest, err)
		}
		rk := rowKey(enc, "guest/x\x00y", 7)
		keyEnc, key, id, err := splitRowKey(rk)
		if err != nil || !bytes.Equal(keyEnc, enc) || collate(key, k) != 0 || id != "guest/x\x00y" {
			t.Fatalf("splitRowKey(%s) = %x, %v, %q, %v", s, keyEnc, key, id, err)
		}
	}
	for _, bad := range [][]byte{nil, {0x99}, {tagNumber, 1}, {tagString, 'a'}, {tagString, 0, 7}, {tagArray}, {tagObject, tagNull}} {
		if _, _, err := decodeKey(bad); err == nil {
			t.Errorf("decodeKey(%x) succeeded", bad)
		}
	}
}

func TestNormalizeKey(t *testing.T) {
	type s struct {
		A int `json:"a"`
	}
	cases := []struct {
		in   any
		want string
	}{
		{int64(5), `5`},
		{[]string{"a"}, `["a"]`},
		{[]any{"a", int32(1), math.NaN()}, `["a",1,null]`},
		{s{A: 1}, `{"a":1}`},
		{json.Number("12"), `12`},
		{json.RawMessage(`["x",{}]`), `["x",{}]`},
	}
	for _, tc := range cases {
		got, err := normalizeKey(tc.in)
		if err != nil || collate(got, mustKey(t, tc.want)) != 0 {
			t.Errorf("normalizeKey(%#v) = %#v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	if _, err := normalizeKey(json.RawMessage(`{`)); err == nil {
		t.Error("normalizeKey of bad JSON succeeded")
	}
}

// genKey builds a canonical key from arbitrary bytes, so the fuzzer reaches
// every type without having to write valid JSON.
func genKey(b *[]byte, depth int) any {
	next := func() byte {
		if len(*b) == 0 {
			return 0
		}
		c := (*b)[0]
		*b = (*b)[1:]
		return c
	}
	switch op := next(); op % 8 {
	case 0:
		return nil
	case 1:
		return false
	case 2:
		return true
	case 3:
		var raw [8]byte
		for i := range raw {
			raw[i] = next()
		}
		f := math.Float64frombits(binary.BigEndian.Uint64(raw[:]))
		if math.IsNaN(f) {
			f = 0
		}
		return f
	case 4:
		n := int(next() % 6)
		var sb strings.Builder
		for range n {
			sb.WriteByte(next())
		}
		return sb.String()
	case 5:
		arr := []any{}
		if depth < 4 {
			for range int(next() % 4) {
				arr = append(arr, genKey(b, depth+1))
			}
		}
		return arr
	case 6:
		obj := map[string]any{}
		if depth < 4 {
			for range int(next() % 4) {
				k, _ := genKey(&[]byte{4, 1, next()}, depth+1).(string)
				obj[k] = genKey(b, depth+1)
			}
		}
		return obj
	default:
		return float64(int8(next()))
	}
}

// fuzzKey decodes data as JSON when it is JSON, else generates a key from it.
func fuzzKey(data []byte) any {
	if json.Valid(data) {
		var v any
		if json.Unmarshal(data, &v) == nil {
			if k, err := normalizeKey(v); err == nil {
				return k
			}
		}
	}
	return genKey(&data, 0)
}

// FuzzKeyOrder checks that the binary index encoding sorts exactly like
// collate, that it decodes back, and that (key, doc id) row keys sort by key
// then doc id.
func FuzzKeyOrder(f *testing.F) {
	f.Add([]byte(`["guest",1700000000000]`), []byte(`["guest","\ufff0"]`), "guest/a", "guest/b")
	f.Add([]byte(`"a\u0000"`), []byte(`"a"`), "x", "x")
	f.Add([]byte(`{"a":1,"b":[]}`), []byte(`{"a":1}`), "", "\x00")
	f.Add([]byte{3, 0x80, 0, 0, 0, 0, 0, 0, 0}, []byte{3, 0, 0, 0, 0, 0, 0, 0, 0}, "b", "a")
	f.Fuzz(func(t *testing.T, a, b []byte, idA, idB string) {
		ka, kb := fuzzKey(a), fuzzKey(b)
		ea, eb := appendKey(nil, ka), appendKey(nil, kb)
		want := collate(ka, kb)
		if got := bytes.Compare(ea, eb); got != want {
			t.Fatalf("collate(%#v, %#v) = %d but encodings compare %d\n%x\n%x", ka, kb, want, got, ea, eb)
		}
		if collate(kb, ka) != -want {
			t.Fatalf("collate is not antisymmetric for %#v, %#v", ka, kb)
		}
		for _, k := range []any{ka, kb} {
			enc := appendKey(nil, k)
			back, rest, err := decodeKey(enc)
			if err != nil || len(rest) != 0 || collate(back, k) != 0 || !bytes.Equal(appendKey(nil, back), enc) {
				t.Fatalf("round trip of %#v: %#v, rest %x, %v", k, back, rest, err)
			}
		}
		wantRow := want
		if wantRow == 0 {
			wantRow = strings.Compare(idA, idB)
		}
		if got := bytes.Compare(rowKey(ea, idA, 0), rowKey(eb, idB, 0)); got != wantRow {
			t.Fatalf("row keys (%#v, %q) vs (%#v, %q) compare %d, want %d", ka, idA, kb, idB, got, wantRow)
		}
	})
}
