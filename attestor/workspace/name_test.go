package workspace

import (
	"regexp"
	"strings"
	"testing"
)

// validStepName is the regular expression it replaced.
func TestValidStepNameMatchesRegexp(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	names := []string{"", "a", "build", "Build-1.2_x", ".hidden", "-x", "_x", "a/b", "a b", "é", "a\x00",
		strings.Repeat("a", 128), strings.Repeat("a", 129), "a..b", "9", "x.", "x-"}
	for c := 0; c < 256; c++ {
		names = append(names, string([]byte{byte(c)}), "a"+string([]byte{byte(c)}))
	}
	for _, n := range names {
		if got, want := validStepName(n), re.MatchString(n); got != want {
			t.Errorf("validStepName(%q) = %v, the expression says %v", n, got, want)
		}
	}
}
