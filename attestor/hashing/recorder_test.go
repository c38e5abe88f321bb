package hashing_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor"
	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/hashing"
	"github.com/attestor/attestor/attestor/workspace"
	"github.com/google/go-cmp/cmp"
)

// The Recorder with a hash cache: the cache across the passes of a step,
// and where the Recorder keeps it.

// cacheTestSigner signs with an ed25519 key.
type cacheTestSigner struct{ priv ed25519.PrivateKey }

func (s cacheTestSigner) Sign(_ context.Context, msg []byte) ([]byte, error) {
	return ed25519.Sign(s.priv, msg), nil
}
func (s cacheTestSigner) KeyID() (string, error)   { return "0123456789abcdef", nil }
func (s cacheTestSigner) Public() crypto.PublicKey { return s.priv.Public() }

// TestRecorderRunWithCache records a step whose command rewrites a
// product in place (same size, mtime set back) and leaves another alone:
// with the workspace cache the products pass reads only the changed file,
// and records its new digest.
func TestRecorderRunWithCache(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	hashing.HashTree(t, base, map[string]string{"src/a": "aaaa", "src/b": "bbbb"})
	hashing.Settle()
	ws, err := workspace.Open(filepath.Join(base, ".attestor"))
	if err != nil {
		t.Fatal(err)
	}
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := hashing.FutureCache(ws.Path(hashing.CacheFile))
	var last []hashing.Progress
	r, err := attestor.NewRecorder(ws, cacheTestSigner{priv}, attestor.WithHashOptions(hashing.WithBaseDir(base), hashing.WithCache(c),
		hashing.WithProgress(func(p hashing.Progress) {
			if p.Done {
				last = append(last, p)
			}
		})))
	if err != nil {
		t.Fatal(err)
	}
	a := filepath.Join(base, "src", "a")
	fi, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	stamp := fi.ModTime().Format("200601021504.05")
	res, err := r.Run(context.Background(), attestor.Step{
		Name: "build", Materials: []string{"src"}, Products: []string{"src"},
		Command: []string{"sh", "-c", `printf AAAA > "$1" && touch -t "$2" "$1"`, "sh", a, stamp},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hashing.HashedOf(res.Record().Materials), hashing.SHA256Only("src/a", "aaaa", "src/b", "bbbb"); !cmp.Equal(got, want) {
		t.Errorf("materials %v, want %v", got, want)
	}
	if got, want := hashing.HashedOf(res.Record().Products), hashing.SHA256Only("src/a", "AAAA", "src/b", "bbbb"); !cmp.Equal(got, want) {
		t.Errorf("products %v, want %v", got, want)
	}
	if len(last) != 2 || last[1].CachedFiles != 1 {
		t.Errorf("passes %+v: want the products pass to take 1 file (src/b) from the cache", last)
	}
	if _, err := os.Stat(ws.Path(hashing.CacheFile)); err != nil {
		t.Errorf("no cache file in the workspace: %v", err)
	}
}

// derivingTestSigner is cacheTestSigner with a key it derives secrets
// from, as a key file's signer does.
type derivingTestSigner struct{ cacheTestSigner }

func (s derivingTestSigner) DeriveKey(purpose string) ([]byte, error) {
	sum := sha256.Sum256(append(s.priv.Seed(), purpose...))
	return sum[:], nil
}

// TestRecorderCacheScope: by default the hash cache lives in the process
// (nothing is written to the workspace, so nothing between two steps can
// make a later one trust a digest); attestor.WithWorkspaceCache keeps it in the
// workspace, sealed with a key derived from the signing key, and refuses
// a signer that has none.
func TestRecorderCacheScope(t *testing.T) {
	t.Parallel()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, signer envelope.Signer, opts ...attestor.Option) (*workspace.Workspace, error) {
		t.Helper()
		base := t.TempDir()
		hashing.HashTree(t, base, map[string]string{"src/a": "a"})
		ws, err := workspace.Open(filepath.Join(base, ".attestor"))
		if err != nil {
			t.Fatal(err)
		}
		r, err := attestor.NewRecorder(ws, signer, append([]attestor.Option{attestor.WithHashOptions(hashing.WithBaseDir(base))}, opts...)...)
		if err != nil {
			return ws, err
		}
		_, err = r.Run(t.Context(), attestor.Step{Name: "s", Materials: []string{"src"}, Products: []string{"src"}, Command: []string{"true"}})
		return ws, err
	}
	t.Run("default", func(t *testing.T) {
		ws, err := run(t, derivingTestSigner{cacheTestSigner{priv}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(ws.Path(hashing.CacheFile)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a cache file in the workspace without attestor.WithWorkspaceCache: %v", err)
		}
	})
	t.Run("no key to seal it with", func(t *testing.T) {
		if _, err := run(t, cacheTestSigner{priv}, attestor.WithWorkspaceCache()); !errors.Is(err, fault.ErrInvalidInput) {
			t.Errorf("attestor.WithWorkspaceCache with a signer that derives no key: %v, want fault.ErrInvalidInput", err)
		}
	})
}

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
			hashing.HashTree(t, base, map[string]string{tc.sibling + "/f": "material"})
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
			r, err := attestor.NewRecorder(ws, cacheTestSigner{priv}, attestor.WithHashOptions(hashing.WithBaseDir(base)))
			if err != nil {
				t.Fatal(err)
			}
			res, err := r.Run(t.Context(), attestor.Step{Name: "s", Materials: []string{"."}, Command: []string{"true"}})
			if err != nil {
				t.Fatal(err)
			}
			want := hashing.SHA256Only(tc.sibling+"/f", "material")
			if got := hashing.HashedOf(res.Record().Materials); !cmp.Equal(got, want) {
				t.Errorf("workspace %q: materials %v, want %v", tc.ws, got, want)
			}
		})
	}
}

// TestWalkersAgreeOnRecords records the same step over the same project
// with the Linux walker and with the portable one (on Linux; elsewhere
// both are the portable one) and compares the signed envelopes byte for
// byte.
func TestWalkersAgreeOnRecords(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	hashing.HashTree(t, base, map[string]string{
		"go.mod": "module example.com/p\n", "src/main.go": "package main\n", "src/deep/x y/z.txt": "z\n", "out/app": "binary",
	})
	if err := os.Symlink("main.go", filepath.Join(base, "src", "link.go")); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	var envelopes [][]byte
	for i, opts := range [][]hashing.Option{nil, {hashing.WithPortableWalk()}} {
		ws, err := workspace.Open(filepath.Join(t.TempDir(), "ws"))
		if err != nil {
			t.Fatal(err)
		}
		r, err := attestor.NewRecorder(ws, cacheTestSigner{priv}, attestor.WithClock(func() time.Time { return time.Unix(1.8e9, 0) }),
			attestor.WithCIDetect(func(context.Context) (map[string]any, error) { return map[string]any{"platform": "local"}, nil }),
			attestor.WithHashOptions(append([]hashing.Option{hashing.WithBaseDir(base)}, opts...)...))
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.Run(t.Context(), attestor.Step{
			Name:      "build",
			Materials: []string{"src", "go.mod"},
			Products:  []string{"."},
			Command:   []string{"true"},
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
