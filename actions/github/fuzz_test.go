package github

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzSetOutput: whatever the value, the output file parses back to
// exactly that value under that name and sets no other output.
func FuzzSetOutput(f *testing.F) {
	for _, v := range []string{"", "true", "a\nb", "x\n_GitHubActionsFileCommandDelimeter_\ny<<EOF\nz\nEOF", "ghadelimiter_\n", "\r\n"} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, value string) {
		out := filepath.Join(t.TempDir(), "output")
		a := New(WithGetenv(func(k string) string {
			if k == EnvOutput {
				return out
			}
			return ""
		}))
		if err := a.SetOutput("value", value); err != nil {
			return // refused (the value holds the delimiter): nothing forged
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseFileCommands(string(data))
		if err != nil {
			t.Fatalf("the output file does not parse: %v\n%q", err, data)
		}
		if len(got) != 1 || got["value"] != value {
			t.Fatalf("outputs %q, want only value=%q", got, value)
		}
	})
}
