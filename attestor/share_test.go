package attestor

import (
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"testing"
	"unsafe"

	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/hashing"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/workspace"
)

func TestShareUnchanged(t *testing.T) {
	t.Parallel()
	fs := func(name, hex string) hashing.FileSum {
		// A name of its own, as each walk allocates it.
		return hashing.FileSum{Name: string([]byte("src/" + name)), Sums: hashing.Sums{hex}}
	}
	materials := []hashing.FileSum{fs("a", "11"), fs("b", "22"), fs("d", "44")}
	products := []hashing.FileSum{fs("a", "11"), fs("b", "2f"), fs("c", "33"), fs("d", "44"), fs("e", "55")}
	got := shareUnchanged(materials, products)
	want := []struct {
		name   string
		shared bool
	}{{"a", true}, {"b", false}, {"c", false}, {"d", true}, {"e", false}}
	if len(got) != len(want) {
		t.Fatalf("got %d products, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].Name != "src/"+w.name {
			t.Errorf("product %d is %q, want %q", i, got[i].Name, w.name)
		}
		shared := false
		for _, m := range materials {
			if unsafe.StringData(got[i].Name) == unsafe.StringData(m.Name) {
				shared = true
			}
		}
		if shared != w.shared {
			t.Errorf("product %q shares the material's name: %v, want %v", w.name, shared, w.shared)
		}
	}
	if got[1].Sums[0] != "2f" {
		t.Errorf("a changed product kept the material's digest")
	}
}

// testRecorder returns a Recorder that records files below dir into the
// workspace dir/ws, with a fresh ed25519 key.
func testRecorder(t *testing.T, dir string, opts ...Option) *Recorder {
	t.Helper()
	ws, err := workspace.Open(dir + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := sign.New(priv)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRecorder(ws, signer, append([]Option{WithHashOptions(hashing.WithBaseDir(dir))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A step with nothing to record is refused before its command runs.
func TestRunWithoutArtifactsRefusedBeforeRunning(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := testRecorder(t, dir)
	marker := dir + "/ran"
	_, err := r.Run(t.Context(), Step{Name: "test", Command: []string{"touch", marker}})
	if !errors.Is(err, fault.ErrInvalidInput) {
		t.Fatalf("Run without materials or products: %v, want fault.ErrInvalidInput", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the command ran although the step could not be recorded")
	}
}

// CI facts found while the materials are hashed are recorded; a failure to
// find them fails the step before its command runs.
func TestRunCIDetect(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/src", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	detect := func(context.Context) (map[string]any, error) { return map[string]any{"platform": "local"}, nil }
	r := testRecorder(t, dir, WithCI(map[string]any{"platform": "replaced"}), WithCIDetect(detect))
	res, err := r.Run(t.Context(), Step{Name: "test", Materials: []string{"src"}, Command: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Record().CI["platform"]; got != "local" {
		t.Errorf("CI platform %v, want local", got)
	}

	bad := errors.New("bad event file")
	r = testRecorder(t, dir, WithCIDetect(func(context.Context) (map[string]any, error) { return nil, bad }))
	marker := dir + "/ran"
	if _, err := r.Run(t.Context(), Step{Name: "test2", Materials: []string{"src"}, Command: []string{"touch", marker}}); !errors.Is(err, bad) {
		t.Fatalf("Run: %v, want the detection error", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the command ran although its CI facts could not be found")
	}
}
