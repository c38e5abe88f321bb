package attestor_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/attestor/attestor/attestor"
)

// TestWalkersAgreeOnRecords records the same step over the same project
// with the Linux walker and with the portable one (on Linux; elsewhere
// both are the portable one) and compares the signed envelopes byte for
// byte.
func TestWalkersAgreeOnRecords(t *testing.T) {
	t.Parallel()
	p := newProject(t, "")
	writeFile(t, filepath.Join(p.base, "src", "deep", "x y", "z.txt"), "z\n")
	if err := os.Symlink("main.go", filepath.Join(p.base, "src", "link.go")); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	signer := newFakeSigner()
	var envelopes [][]byte
	for i, opts := range [][]attestor.HashOption{nil, {attestor.WithPortableWalk()}} {
		r := p.recorder(t, signer, attestor.WithHashOptions(append([]attestor.HashOption{attestor.WithBaseDir(p.base)}, opts...)...))
		res, err := r.Run(t.Context(), attestor.Step{
			Name:      "build",
			Materials: []string{"src", "go.mod"},
			Products:  []string{"."},
			Command:   p.shell("true"),
		})
		if err != nil {
			t.Fatalf("Run %d: %v", i, err)
		}
		data, err := os.ReadFile(res.Files[0])
		if err != nil {
			t.Fatal(err)
		}
		envelopes = append(envelopes, data)
	}
	if !bytes.Equal(envelopes[0], envelopes[1]) {
		t.Errorf("the records differ:\n%s\n%s", envelopes[0], envelopes[1])
	}
}
