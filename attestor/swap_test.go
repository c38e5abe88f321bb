package attestor

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// swapAfterWalk returns a progress option that calls swap once, when the
// walk is done and before any file is read: the moment a process racing
// the hasher would aim for.
func swapAfterWalk(t *testing.T, swap func()) HashOption {
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
	got, err := hashRun(t, base, []string{"f"}, swap, WithWorkers(1))
	if !errors.Is(err, ErrArtifactChanged) {
		t.Fatalf("hash after the swap: %v, %v; want ErrArtifactChanged", got, err)
	}
}

// TestHashLinkRepointedAfterWalk points a listed symbolic link, between
// the walk and the read, from a file inside the base directory to one
// outside of the same size and modification time.
func TestHashLinkRepointedAfterWalk(t *testing.T) {
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
	got, err := hashRun(t, base, []string{"l"}, swap, WithWorkers(1))
	if !errors.Is(err, ErrArtifactChanged) && !errors.Is(err, ErrOutsideRoot) {
		t.Fatalf("hash after the link moved: %v, %v; want ErrArtifactChanged or ErrOutsideRoot", got, err)
	}
}

// TestHashReplacedAfterWalk renames another file of the same size and
// modification time over a listed one between the walk and the read: the
// file read is not the one listed.
func TestHashReplacedAfterWalk(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	hashTree(t, base, map[string]string{"f": "listed", "other": "other!"})
	sameTimes(t, filepath.Join(base, "other"), filepath.Join(base, "f"))
	swap := swapAfterWalk(t, func() {
		if err := os.Rename(filepath.Join(base, "other"), filepath.Join(base, "f")); err != nil {
			t.Error(err)
		}
	})
	if got, err := hashRun(t, base, []string{"f"}, swap, WithWorkers(1)); !errors.Is(err, ErrArtifactChanged) {
		t.Fatalf("hash after the rename: %v, %v; want ErrArtifactChanged", got, err)
	}
}

// TestReadDirSwapped replaces a listed directory, before it is read, with
// a symbolic link to a directory outside the base directory, and with
// another directory: neither is listed as the one that was.
func TestReadDirSwapped(t *testing.T) {
	t.Parallel()
	for _, replace := range []string{"symlink", "directory"} {
		t.Run(replace, func(t *testing.T) {
			t.Parallel()
			base, outside := t.TempDir(), t.TempDir()
			hashTree(t, base, map[string]string{"d/a": "a"})
			hashTree(t, outside, map[string]string{"a": "a", "secret": "s"})
			h, err := NewHasher(WithBaseDir(base))
			if err != nil {
				t.Fatal(err)
			}
			w, err := h.newWalk(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer w.close()
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(base, "d"), &st); err != nil {
				t.Fatal(err)
			}
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
			if _, err := w.readDir(subdir{"d", idOf(&st), false}); !errors.Is(err, ErrArtifactChanged) {
				t.Errorf("readDir of a directory replaced by a %s: %v, want ErrArtifactChanged", replace, err)
			}
		})
	}
}

// TestReadDirLinkRepointed points a listed link to a directory inside the
// base directory at a directory outside before it is read.
func TestReadDirLinkRepointed(t *testing.T) {
	t.Parallel()
	base, outside := t.TempDir(), t.TempDir()
	hashTree(t, base, map[string]string{"in/a": "a", "l": "->in"})
	h, err := NewHasher(WithBaseDir(base), WithFollowSymlinkDirs())
	if err != nil {
		t.Fatal(err)
	}
	w, err := h.newWalk(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(base, "l"), &st); err != nil {
		t.Fatal(err)
	}
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
	if _, err := w.readDir(subdir{"l", idOf(&st), true}); !errors.Is(err, ErrOutsideRoot) {
		t.Errorf("readDir through a link now leading outside: %v, want ErrOutsideRoot", err)
	}
}

// TestPinNamedPath: a named path whose directory was swapped for a link
// to a directory outside the base directory, after the checks of the
// walk resolved it, is not listed: another directory there is a change,
// and the listed directory itself moved outside is outside.
func TestPinNamedPath(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"another directory", "the same directory, moved out"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			base, outside := t.TempDir(), t.TempDir()
			hashTree(t, base, map[string]string{"d/sub/a": "a"})
			hashTree(t, outside, map[string]string{"d/sub/secret": "s"})
			h, err := NewHasher(WithBaseDir(base))
			if err != nil {
				t.Fatal(err)
			}
			w, err := h.newWalk(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer w.close()
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(base, "d", "sub"), &st); err != nil {
				t.Fatal(err)
			}
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
			err = w.pin("d/sub", "d/sub", false, &st)
			if !errors.Is(err, ErrArtifactChanged) && !errors.Is(err, ErrOutsideRoot) {
				t.Errorf("pin after the swap: %v, want ErrArtifactChanged or ErrOutsideRoot", err)
			}
		})
	}
}
