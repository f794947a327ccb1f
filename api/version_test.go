package api

import "testing"

// TestNormalizeVersion checks upstream's SemVer parsing: wskdeploy sends
// manifest versions such as "1.0" unchanged.
func TestNormalizeVersion(t *testing.T) {
	good := map[string]string{
		"1.2.3": "1.2.3", "1.0": "1.0.0", "2": "2.0.0", "0.0.1": "0.0.1", "1.0.": "1.0.0",
		"1.2.3.4": "1.2.3", "01.2.3": "1.2.3", "0.10.0": "0.10.0",
	}
	for in, want := range good {
		v := in
		if !NormalizeVersion(&v) || v != want {
			t.Errorf("NormalizeVersion(%q) = %q, want %q", in, v, want)
		}
	}
	for _, in := range []string{"", "0.0.0", "0", "1.-2.3", "a.b.c", "1..2", ".1", "1.2.x", "99999999999.0.0", "."} {
		v := in
		if NormalizeVersion(&v) || v != in {
			t.Errorf("NormalizeVersion(%q) accepted it as %q", in, v)
		}
	}
	p, err := DecodeActionPut([]byte(`{"version":"1.0"}`), DefaultManifest(), DefaultLimits())
	if err != nil || p.Version == nil || *p.Version != "1.0.0" {
		t.Errorf(`DecodeActionPut({"version":"1.0"}) = %+v, %v; want version 1.0.0`, p, err)
	}
}
