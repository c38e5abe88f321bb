package hashing

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attestor/attestor/attestor/fault"
)

// TestDirLinkBothWalkers: with a DirHasher, each walker refuses a symbolic
// link to a directory inside a directory recorded as one artifact (what it
// leads to would be out of the dirHash), follows it with
// WithFollowSymlinkDirs, and skips a link to a directory elsewhere as
// without a DirHasher (TestDirHashDirLink, in attestor, checks the same
// through the Recorder).
func TestDirLinkBothWalkers(t *testing.T) {
	t.Parallel()
	for _, walker := range []string{"default", "portable"} {
		t.Run(walker, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			hashTree(t, base, map[string]string{"deps/a/b.js": "b", "deps/c.js": "c", "payload/index.js": "evil"})
			hash := func(extra ...Option) ([]FileSum, error) {
				opts := append([]Option{WithBaseDir(base), WithoutCache()}, extra...)
				if walker == "portable" {
					opts = append(opts, withPortableWalk())
				}
				h, err := NewHasher(opts...)
				if err != nil {
					t.Fatal(err)
				}
				d, err := NewDirHasher([]string{"deps"}, opts)
				if err != nil {
					t.Fatal(err)
				}
				h.UseDirHasher(d)
				hs, err := h.HashFiles(context.Background(), []string{"."})
				if err != nil {
					return nil, err
				}
				return d.Group(hs)
			}
			if err := os.Symlink("payload", filepath.Join(base, "top-link")); err != nil {
				t.Skipf("no symbolic links here: %v", err)
			}
			before, err := hash()
			if err != nil {
				t.Fatalf("a link to a directory outside the dirhash directory: %v", err)
			}
			if err := os.Symlink("../payload", filepath.Join(base, "deps", "evil")); err != nil {
				t.Fatal(err)
			}
			if _, err := hash(); !errors.Is(err, fault.ErrInvalidInput) || !strings.Contains(err.Error(), "deps/evil") || !strings.Contains(err.Error(), "follow") {
				t.Errorf("a link to a directory inside the dirhash directory: %v; want fault.ErrInvalidInput naming deps/evil and --follow-symlink-dirs", err)
			}
			followed, err := hash(WithFollowSymlinkDirs())
			if err != nil {
				t.Fatal(err)
			}
			if dirHashOf(before, "deps") == "" || dirHashOf(followed, "deps") == dirHashOf(before, "deps") {
				t.Errorf("followed, the linked directory is not in the dirHash: %v, before %v", followed, before)
			}
		})
	}
}

func dirHashOf(hs []FileSum, name string) string {
	for _, f := range hs {
		if f.Name == name {
			return f.DirHash
		}
	}
	return ""
}

// A DirHasher needs the files' sha256 digests (the engine's bad-input
// cases of --dirhash are TestDirHashBadInput, in attestor).
func TestDirHasherWithoutSHA256(t *testing.T) {
	t.Parallel()
	if _, err := NewDirHasher([]string{"deps"}, []Option{WithAlgorithms("sha512")}); !errors.Is(err, fault.ErrInvalidInput) || !strings.Contains(err.Error(), "sha256") {
		t.Errorf("NewDirHasher without sha256: %v, want fault.ErrInvalidInput naming sha256", err)
	}
}
