package invoker

import "testing"

func TestSafeName(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
	}{
		{"wsk0_12_guest_hello", 64, "wsk0_12_guest_hello"},
		{"../etc/passwd", 64, "etc_passwd"},
		{"a b/c:d", 64, "a_b_c_d"},
		{"...", 64, "x"},
		{"", 64, "x"},
		{"abcdefghij", 5, "abcde"},
	} {
		if got := SafeName(c.in, c.max, "x"); got != c.want {
			t.Errorf("SafeName(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
	}
}
