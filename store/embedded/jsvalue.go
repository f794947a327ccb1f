package embedded

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
)

// This file holds the few JavaScript semantics the built-in views need so
// that their Go translations emit exactly what the upstream JavaScript map
// functions emit, including for odd documents: property access on null
// throws, undefined members are left out of JSON objects, `||` and `if`
// test truthiness, `+` concatenates strings.

// undefinedType is JavaScript's undefined. It encodes to JSON null, which is
// what JSON.stringify does with undefined array elements and emit keys.
type undefinedType struct{}

func (undefinedType) MarshalJSON() ([]byte, error) { return []byte("null"), nil }

var undefined any = undefinedType{}

// jsTypeError is panicked where JavaScript throws a TypeError; runMap
// recovers it and drops the doc's rows, like a throwing map function.
type jsTypeError string

// prop is v[name] (v.name): undefined for a missing member, a panic for null
// or undefined v.
func prop(v any, name string) any {
	switch t := v.(type) {
	case nil, undefinedType:
		panic(jsTypeError("cannot read property " + strconv.Quote(name) + " of null or undefined"))
	case map[string]any:
		if m, ok := t[name]; ok {
			return m
		}
	case []any:
		if name == "length" {
			return float64(len(t))
		}
		if i, err := strconv.Atoi(name); err == nil && i >= 0 && i < len(t) {
			return t[i]
		}
	case string:
		if name == "length" {
			return float64(len(utf16.Encode([]rune(t))))
		}
	}
	return undefined
}

// truthy is JavaScript's ToBoolean.
func truthy(v any) bool {
	switch t := v.(type) {
	case nil, undefinedType:
		return false
	case bool:
		return t
	case float64:
		return t != 0 && !math.IsNaN(t)
	case string:
		return t != ""
	}
	return true
}

// or is JavaScript's a || b.
func or(a, b any) any {
	if truthy(a) {
		return a
	}
	return b
}

// objectKeysLen is Object.keys(v).length; it panics for null/undefined.
func objectKeysLen(v any) int {
	switch t := v.(type) {
	case nil, undefinedType:
		panic(jsTypeError("cannot convert undefined or null to object"))
	case map[string]any:
		return len(t)
	case []any:
		return len(t)
	case string:
		return len(utf16.Encode([]rune(t)))
	}
	return 0
}

// split is v.split(sep); it panics unless v is a string.
func split(v any, sep string) []string {
	s, ok := v.(string)
	if !ok {
		panic(jsTypeError("split is not a function"))
	}
	return strings.Split(s, sep)
}

// jsString is JavaScript's ToString, as used by `+` on strings.
func jsString(v any) string {
	switch t := v.(type) {
	case undefinedType:
		return "undefined"
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(t)
	case float64:
		return jsNumberString(t)
	case string:
		return t
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			if e != nil {
				parts[i] = jsString(e)
			}
		}
		return strings.Join(parts, ",")
	}
	return "[object Object]"
}

func jsNumberString(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		return "0"
	}
	if a := math.Abs(f); a >= 1e21 || a < 1e-6 {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		// Go writes e+06/e-07; JavaScript writes e+6/e-7.
		mant, exp, _ := strings.Cut(s, "e")
		sign, digits := exp[:1], strings.TrimLeft(exp[1:], "0")
		return mant + "e" + sign + digits
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// toNumber is JavaScript's ToNumber for JSON values.
func toNumber(v any) float64 {
	switch t := v.(type) {
	case nil:
		return 0
	case bool:
		if t {
			return 1
		}
		return 0
	case float64:
		return t
	case string:
		s := strings.TrimSpace(t)
		if s == "" {
			return 0
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return math.NaN()
		}
		return f
	case []any:
		switch len(t) {
		case 0:
			return 0
		case 1:
			return toNumber(jsString(t))
		}
	}
	return math.NaN()
}

// minus is a - b, as JSON: NaN and infinities become null.
func minus(a, b any) any {
	r := toNumber(a) - toNumber(b)
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return nil
	}
	return r
}

// looseEqualsString is v == s for a non-numeric string s.
func looseEqualsString(v any, s string) bool {
	switch t := v.(type) {
	case string:
		return t == s
	case []any:
		return jsString(t) == s
	}
	return false
}

// isZero is v === 0.
func isZero(v any) bool {
	f, ok := v.(float64)
	return ok && f == 0
}

// set stores v under k unless v is undefined, as JSON.stringify omits
// undefined members.
func set(m map[string]any, k string, v any) {
	if v != undefined {
		m[k] = v
	}
}

// copyProps sets m[name] = doc[name] for each name, skipping undefined.
func copyProps(m map[string]any, doc map[string]any, names ...string) {
	for _, n := range names {
		set(m, n, prop(doc, n))
	}
}

// forEach is arr.forEach(fn); it panics unless arr is an array.
func forEach(arr any, fn func(any)) {
	a, ok := arr.([]any)
	if !ok {
		panic(jsTypeError("forEach is not a function"))
	}
	for _, e := range a {
		fn(e)
	}
}
