package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoPipeline runs the README's first command, the demo pipeline
// (testdata/demo/pipeline.sh), with the binary under test: every step is
// recorded, the provenance signed, the chain verified, and a tampered
// tarball refused.
func TestDemoPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go build and the whole demo")
	}
	for _, tool := range []string{"bash", "tar"} {
		requireTool(t, tool)
	}
	work := t.TempDir()
	cmd := exec.Command("bash", filepath.Join("..", "..", "testdata", "demo", "pipeline.sh"), work)
	cmd.Env = append(os.Environ(), "ATTESTOR="+attestorBin, "PATH="+filepath.Dir(goTool())+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo pipeline: %v\n%s", err, out)
	}
	for _, want := range []string{"PASSED", "FAILED", "demo pipeline done",
		// inspect, with the demo key
		": 4 attestation(s)", "FOUND IN  KEY ", "verified",
		// the graphs of the passing and the refused run
		"class s0,s1,s2,subject,provenance passed", "class s2,subject,provenance failed"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	for _, name := range []string{"checkout", "build", "package", "_provenance", "_vsa"} {
		matches, _ := filepath.Glob(filepath.Join(work, ".attestor", name+".*.dsse.json"))
		if len(matches) != 1 {
			t.Errorf("workspace holds %d %s envelopes, want 1", len(matches), name)
		}
	}
	data, err := os.ReadFile(filepath.Join(work, "dist", "hello.tar.gz"))
	if err != nil || len(data) == 0 {
		t.Fatalf("the demo left no tarball: %v", err)
	}
}
