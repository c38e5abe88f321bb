package gate

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestResultGolden: the JSON result of a passing and of a failing chain
// (keys, clocks and files are deterministic).
func TestResultGolden(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		build func(c *chain)
	}{
		{"pass", func(c *chain) {
			c.pipeline(nil)
			c.provenance("ci", c.subject("app.tar"))
		}},
		{"fail", func(c *chain) {
			c.pipeline(map[string]func(){"build": func() { c.write(map[string]string{"dist/app": "evil\n"}) }})
			c.remove(c.envelopeOf("checkout"))
			c.step("extra", "mallory", nil, []string{"app.tar"}, nil, nil)
			c.provenance("ci", c.subject("app.tar"))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newChain(t)
			tt.build(c)
			c.key("ci")
			p, err := ParsePolicy([]byte(pipelinePolicy+provenancePolicy), c.keys)
			if err != nil {
				t.Fatal(err)
			}
			res, _ := c.verify(p, c.subject("app.tar"))
			got, err := json.MarshalIndent(res, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", "golden", "result-"+tt.name+".json"), string(got)+"\n")
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (regenerate with go test ./attestor/gate -update): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; regenerate with -update if intended):\n%s", path, strings.TrimSpace(diff))
	}
}
