package hashing

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// dirWalker is what the tests below call of either walker.
type dirWalker interface {
	walker
	readDir(d subdir) ([]subdir, error)
	pin(p, name string, follow bool, id fileID) error
}

// newDirWalker starts a walk with h, as a dirWalker.
func newDirWalker(t *testing.T, h *Hasher) dirWalker {
	t.Helper()
	w, err := h.newWalk(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.close)
	return w.(dirWalker)
}

// idOfPath is the identity of path (follow: of what a final link leads to).
func idOfPath(t *testing.T, path string, follow bool) fileID {
	t.Helper()
	var st fileStat
	if err := statPath(path, follow, &st); err != nil {
		t.Fatal(err)
	}
	return st.id()
}

// swapAfterWalk returns a progress option that calls swap once, when the
// walk is done and before any file is read: the moment a process racing
// the hasher would aim for.
func swapAfterWalk(t *testing.T, swap func()) Option {
	done := false
	return WithProgress(func(p Progress) {
		if !done && !p.Done {
			done = true
			swap()
		}
	})
}

// sameTimes gives path the modification time of like.
func sameTimes(t *testing.T, path, like string) {
	t.Helper()
	fi, err := os.Stat(like)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// TestHashSymlinkSwapAfterWalk replaces a listed regular file, between the
// walk and the read, with a symbolic link to a file outside the base
// directory of the same size and modification time: the outside file's
// digest must never be recorded under the inside name.
func TestHashSymlinkSwapAfterWalk(t *testing.T) {
	t.Parallel()
	for _, wl := range walkers {
		t.Run(wl.name, func(t *testing.T) {
			t.Parallel()
			base, outside := t.TempDir(), t.TempDir()
			hashTree(t, base, map[string]string{"f": "inside!"})
			secret := filepath.Join(outside, "secret")
			if err := os.WriteFile(secret, []byte("secret!"), 0o644); err != nil {
				t.Fatal(err)
			}
			sameTimes(t, secret, filepath.Join(base, "f"))
			swap := swapAfterWalk(t, func() {
				f := filepath.Join(base, "f")
				if err := os.Remove(f); err != nil {
					t.Error(err)
				}
				if err := os.Symlink(secret, f); err != nil {
					t.Error(err)
				}
			})
			got, err := hashRun(t, base, []string{"f"}, append([]Option{swap, WithWorkers(1)}, wl.opts...)...)
			if !errors.Is(err, ErrArtifactChanged) {
				t.Fatalf("hash after the swap: %v, %v; want ErrArtifactChanged", got, err)
			}
		})
	}
}

// TestHashLinkRepointedAfterWalk points a listed symbolic link, between
// the walk and the read, from a file inside the base directory to one
// outside of the same size and modification time.
func TestHashLinkRepointedAfterWalk(t *testing.T) {
	t.Parallel()
	for _, wl := range walkers {
		t.Run(wl.name, func(t *testing.T) {
			t.Parallel()
			base, outside := t.TempDir(), t.TempDir()
			hashTree(t, base, map[string]string{"target": "inside!", "l": "->target"})
			secret := filepath.Join(outside, "secret")
			if err := os.WriteFile(secret, []byte("secret!"), 0o644); err != nil {
				t.Fatal(err)
			}
			sameTimes(t, secret, filepath.Join(base, "target"))
			swap := swapAfterWalk(t, func() {
				l := filepath.Join(base, "l")
				tmp := l + ".new"
				if err := os.Symlink(secret, tmp); err != nil {
					t.Error(err)
				}
				if err := os.Rename(tmp, l); err != nil {
					t.Error(err)
				}
			})
			got, err := hashRun(t, base, []string{"l"}, append([]Option{swap, WithWorkers(1)}, wl.opts...)...)
			if !errors.Is(err, ErrArtifactChanged) && !errors.Is(err, ErrOutsideRoot) {
				t.Fatalf("hash after the link moved: %v, %v; want ErrArtifactChanged or ErrOutsideRoot", got, err)
			}
		})
	}
}

// TestHashReplacedAfterWalk renames another file of the same size and
// modification time over a listed one between the walk and the read: the
// file read is not the one listed.
func TestHashReplacedAfterWalk(t *testing.T) {
	t.Parallel()
	for _, wl := range walkers {
		t.Run(wl.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			hashTree(t, base, map[string]string{"f": "listed", "other": "other!"})
			sameTimes(t, filepath.Join(base, "other"), filepath.Join(base, "f"))
			swap := swapAfterWalk(t, func() {
				if err := os.Rename(filepath.Join(base, "other"), filepath.Join(base, "f")); err != nil {
					t.Error(err)
				}
			})
			if got, err := hashRun(t, base, []string{"f"}, append([]Option{swap, WithWorkers(1)}, wl.opts...)...); !errors.Is(err, ErrArtifactChanged) {
				t.Fatalf("hash after the rename: %v, %v; want ErrArtifactChanged", got, err)
			}
		})
	}
}

// TestReadDirSwapped replaces a listed directory, before it is read, with
// a symbolic link to a directory outside the base directory, and with
// another directory: neither is listed as the one that was.
func TestReadDirSwapped(t *testing.T) {
	t.Parallel()
	for _, c := range walkerCases([]string{"symlink", "directory"}) {
		replace := c.arg
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			base, outside := t.TempDir(), t.TempDir()
			hashTree(t, base, map[string]string{"d/a": "a"})
			hashTree(t, outside, map[string]string{"a": "a", "secret": "s"})
			h, err := NewHasher(append([]Option{WithBaseDir(base)}, c.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			w := newDirWalker(t, h)
			id := idOfPath(t, filepath.Join(base, "d"), false)
			// Moved aside, not removed: a new directory would
			// otherwise often get the freed inode back.
			d := filepath.Join(base, "d")
			if err := os.Rename(d, d+".old"); err != nil {
				t.Fatal(err)
			}
			if replace == "symlink" {
				err = os.Symlink(outside, d)
			} else {
				err = os.Mkdir(d, 0o755)
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.readDir(subdir{"d", id, false}); !errors.Is(err, ErrArtifactChanged) {
				t.Errorf("readDir of a directory replaced by a %s: %v, want ErrArtifactChanged", replace, err)
			}
		})
	}
}

// TestReadDirLinkRepointed points a listed link to a directory inside the
// base directory at a directory outside before it is read.
func TestReadDirLinkRepointed(t *testing.T) {
	t.Parallel()
	for _, wl := range walkers {
		t.Run(wl.name, func(t *testing.T) {
			t.Parallel()
			testReadDirLinkRepointed(t, wl.opts)
		})
	}
}

func testReadDirLinkRepointed(t *testing.T, opts []Option) {
	base, outside := t.TempDir(), t.TempDir()
	hashTree(t, base, map[string]string{"in/a": "a", "l": "->in"})
	h, err := NewHasher(append([]Option{WithBaseDir(base), WithFollowSymlinkDirs()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	w := newDirWalker(t, h)
	id := idOfPath(t, filepath.Join(base, "l"), true)
	// The directory itself moves outside (same inode), and the link
	// follows it: the identity check alone cannot see it.
	moved := filepath.Join(outside, "in")
	if err := os.Rename(filepath.Join(base, "in"), moved); err != nil {
		t.Fatal(err)
	}
	l := filepath.Join(base, "l")
	if err := os.Remove(l); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(moved, l); err != nil {
		t.Fatal(err)
	}
	if _, err := w.readDir(subdir{"l", id, true}); !errors.Is(err, ErrOutsideRoot) {
		t.Errorf("readDir through a link now leading outside: %v, want ErrOutsideRoot", err)
	}
}

// TestPinNamedPath: a named path whose directory was swapped for a link
// to a directory outside the base directory, after the checks of the
// walk resolved it, is not listed: another directory there is a change,
// and the listed directory itself moved outside is outside.
func TestPinNamedPath(t *testing.T) {
	t.Parallel()
	for _, c := range walkerCases([]string{"another directory", "the same directory, moved out"}) {
		how := c.arg
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			base, outside := t.TempDir(), t.TempDir()
			hashTree(t, base, map[string]string{"d/sub/a": "a"})
			hashTree(t, outside, map[string]string{"d/sub/secret": "s"})
			h, err := NewHasher(append([]Option{WithBaseDir(base)}, c.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			w := newDirWalker(t, h)
			id := idOfPath(t, filepath.Join(base, "d", "sub"), false)
			d := filepath.Join(base, "d")
			target := filepath.Join(outside, "d")
			if how != "another directory" {
				target = filepath.Join(outside, "moved")
				if err := os.Rename(d, target); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Rename(d, d+".old"); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, d); err != nil {
				t.Fatal(err)
			}
			err = w.pin("d/sub", "d/sub", false, id)
			if !errors.Is(err, ErrArtifactChanged) && !errors.Is(err, ErrOutsideRoot) {
				t.Errorf("pin after the swap: %v, want ErrArtifactChanged or ErrOutsideRoot", err)
			}
		})
	}
}

// walkerCase is a case of a test run with each walker.
type walkerCase struct {
	name, arg string
	opts      []Option
}

// walkerCases returns each of args with each walker.
func walkerCases(args []string) []walkerCase {
	var cs []walkerCase
	for _, wl := range walkers {
		for _, a := range args {
			cs = append(cs, walkerCase{wl.name + "/" + a, a, wl.opts})
		}
	}
	return cs
}
