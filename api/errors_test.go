package api

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckJSONDepth(t *testing.T) {
	deep := func(n int) []byte {
		return []byte(strings.Repeat(`{"a":[`, n) + `"]}[{\"" ` + strings.Repeat(`]}`, n))
	}
	if err := CheckJSONDepth(deep(500), MaxJSONDepth); err != nil {
		t.Errorf("1000 levels: %v", err)
	}
	err := CheckJSONDepth(deep(501), MaxJSONDepth)
	var e *Error
	if !errors.As(err, &e) || e.Status != 400 || e.Message != MsgMalformedPrefix+"the JSON nests deeper than 1000 levels" {
		t.Errorf("1002 levels: %v", err)
	}
	// Brackets inside strings do not count.
	if err := CheckJSONDepth([]byte(`{"s":"`+strings.Repeat("[{", 5000)+`\"[["}`), 10); err != nil {
		t.Errorf("brackets in a string: %v", err)
	}
}

func TestCheckJSONNumbers(t *testing.T) {
	for _, ok := range []string{`{"n":1e308}`, `{"n":-0}`, `[1E-400]`, `{"s":"1e999999"}`, `123456789012345678901234567890`} {
		if err := CheckJSONDepth([]byte(ok), MaxJSONDepth); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{`{"n":1e999999}`, `[-1e400]`} {
		var e *Error
		if err := CheckJSONDepth([]byte(bad), MaxJSONDepth); !errors.As(err, &e) || e.Status != 400 || !strings.Contains(e.Message, "out of range") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
