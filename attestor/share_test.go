package attestor

import (
	"crypto/ed25519"
	"errors"
	"os"
	"testing"

	ita1 "github.com/in-toto/attestation/go/v1"
)

func TestShareUnchanged(t *testing.T) {
	t.Parallel()
	rd := func(name, hex string) *ita1.ResourceDescriptor {
		return &ita1.ResourceDescriptor{Name: name, Digest: map[string]string{"sha256": hex}}
	}
	materials := []*ita1.ResourceDescriptor{rd("a", "11"), rd("b", "22"), rd("d", "44")}
	products := []*ita1.ResourceDescriptor{rd("a", "11"), rd("b", "2f"), rd("c", "33"), rd("d", "44"), rd("e", "55")}
	got := shareUnchanged(materials, products)
	want := []struct {
		name   string
		shared bool
	}{{"a", true}, {"b", false}, {"c", false}, {"d", true}, {"e", false}}
	if len(got) != len(want) {
		t.Fatalf("got %d products, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].GetName() != w.name {
			t.Errorf("product %d is %q, want %q", i, got[i].GetName(), w.name)
		}
		shared := false
		for _, m := range materials {
			if got[i] == m {
				shared = true
			}
		}
		if shared != w.shared {
			t.Errorf("product %q shared with a material: %v, want %v", w.name, shared, w.shared)
		}
	}
	if got[1].GetDigest()["sha256"] != "2f" {
		t.Errorf("a changed product kept the material's digest")
	}
}

// A step with nothing to record is refused before its command runs.
func TestRunWithoutArtifactsRefusedBeforeRunning(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ws, err := OpenWorkspace(dir + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRecorder(ws, cacheTestSigner{priv}, WithHashOptions(WithBaseDir(dir)))
	if err != nil {
		t.Fatal(err)
	}
	marker := dir + "/ran"
	_, err = r.Run(t.Context(), Step{Name: "test", Command: []string{"touch", marker}})
	if !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("Run without materials or products: %v, want ErrInvalidInput", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the command ran although the step could not be recorded")
	}
}
