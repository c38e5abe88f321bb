package attestor

import (
	"crypto/ed25519"
	"path/filepath"
	"testing"

	"github.com/attestor/attestor/attestor/workspace"
	"github.com/google/go-cmp/cmp"
)

// TestWorkspaceExcludedLiterally: the workspace is kept out of a record
// by its name, taken literally: a workspace whose name holds wildcard
// characters must not keep other directories out of the record.
func TestWorkspaceExcludedLiterally(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ ws, sibling string }{
		{"w[s]", "ws"},
		{"w*", "wx"},
		{"w?", "wx"},
		{`w\s`, "ws"},
		{"**", "a"},
		{"d/[x]", "d/x"},
	} {
		t.Run(tc.ws, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			hashTree(t, base, map[string]string{tc.sibling + "/f": "material"})
			ws, err := workspace.Open(filepath.Join(base, filepath.FromSlash(tc.ws)))
			if err != nil {
				t.Fatal(err)
			}
			if err := ws.Write("planted", []byte("in the workspace")); err != nil {
				t.Fatal(err)
			}
			_, priv, err := ed25519.GenerateKey(nil)
			if err != nil {
				t.Fatal(err)
			}
			r, err := NewRecorder(ws, cacheTestSigner{priv}, WithHashOptions(WithBaseDir(base)))
			if err != nil {
				t.Fatal(err)
			}
			res, err := r.Run(t.Context(), Step{Name: "s", Materials: []string{"."}, Command: []string{"true"}})
			if err != nil {
				t.Fatal(err)
			}
			want := sha256Only(tc.sibling+"/f", "material")
			if got := hashedOf(res.Record().Materials); !cmp.Equal(got, want) {
				t.Errorf("workspace %q: materials %v, want %v", tc.ws, got, want)
			}
		})
	}
}
