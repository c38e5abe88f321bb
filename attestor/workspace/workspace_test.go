package workspace_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/safefile"
	"github.com/attestor/attestor/attestor/workspace"
)

func openWorkspace(t *testing.T) *workspace.Workspace {
	t.Helper()
	ws, err := workspace.Open(filepath.Join(t.TempDir(), "ws"))
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

func TestOpenWorkspace(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a", "b", ".attestor")
	ws, err := workspace.Open(dir + "/")
	if err != nil {
		t.Fatal(err)
	}
	if ws.Dir() != dir {
		t.Errorf("Dir() = %q, want %q", ws.Dir(), dir)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("workspace directory not created: %v", err)
	}
	// Opening it again is fine and keeps what is there.
	if err := ws.Write("x", []byte("1")); err != nil {
		t.Fatal(err)
	}
	again, err := workspace.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if data, err := again.Read("x"); err != nil || string(data) != "1" {
		t.Errorf("Read after reopening = %q, %v", data, err)
	}
	if got, want := ws.Path("build.pending.json"), filepath.Join(dir, "build.pending.json"); got != want {
		t.Errorf("Path = %q, want %q", got, want)
	}
}

func TestOpenWorkspaceErrors(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "file")
	writeFile(t, file, "x")
	for _, dir := range []string{file, filepath.Join(file, "below")} {
		ws, err := workspace.Open(dir)
		if !errors.Is(err, fault.ErrInvalidInput) || ws != nil {
			t.Errorf("workspace.Open(%q) = %v, %v; want an error matching fault.ErrInvalidInput", dir, ws, err)
		} else if !strings.Contains(err.Error(), dir) {
			t.Errorf("workspace.Open(%q) error %q does not name the directory", dir, err)
		}
	}
}

// TestOpenWorkspaceDefault: no directory means .attestor in the working
// directory. Not parallel: it changes the working directory.
func TestOpenWorkspaceDefault(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	ws, err := workspace.Open("")
	if err != nil {
		t.Fatal(err)
	}
	if ws.Dir() != workspace.DefaultDir {
		t.Errorf("Dir() = %q, want %q", ws.Dir(), workspace.DefaultDir)
	}
	if fi, err := os.Stat(filepath.Join(dir, ".attestor")); err != nil || !fi.IsDir() {
		t.Errorf(".attestor not created: %v", err)
	}
}

func TestWorkspaceWriteReadRemove(t *testing.T) {
	t.Parallel()
	ws := openWorkspace(t)
	for _, name := range []string{"build.1234abcd.dsse.json", "_provenance.dsse.json", "dry-run/oci/manifest.json"} {
		if err := ws.Write(name, []byte("first")); err != nil {
			t.Fatalf("Write(%q): %v", name, err)
		}
		if err := ws.Write(name, []byte("second")); err != nil {
			t.Fatalf("Write(%q) again: %v", name, err)
		}
		data, err := ws.Read(name)
		if err != nil || string(data) != "second" {
			t.Errorf("Read(%q) = %q, %v; want %q", name, data, err, "second")
		}
		fi, err := os.Stat(ws.Path(name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("%s has mode %v, want 0644", name, fi.Mode().Perm())
		}
		if err := ws.Remove(name); err != nil {
			t.Errorf("Remove(%q): %v", name, err)
		}
		if _, err := ws.Read(name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Read(%q) after Remove = %v, want fs.ErrNotExist", name, err)
		}
		if err := ws.Remove(name); err != nil {
			t.Errorf("Remove(%q) of a missing file = %v, want nil", name, err)
		}
	}
	if diff := cmp.Diff([]string{"dry-run/", "dry-run/oci/"}, listTree(t, ws.Dir())); diff != "" {
		t.Errorf("workspace (-want +got):\n%s", diff)
	}
}

func TestWorkspaceBadNames(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	ws, err := workspace.Open(filepath.Join(parent, "ws"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(parent, "outside"), "keep")
	before := listTree(t, parent)
	for _, name := range []string{"", ".", "./", "a/..", "..", "../outside", "a/../../outside", "/etc/passwd", filepath.Join(parent, "outside")} {
		if err := ws.Write(name, []byte("x")); !errors.Is(err, fault.ErrInvalidInput) {
			t.Errorf("Write(%q) = %v, want an error matching fault.ErrInvalidInput", name, err)
		}
		if _, err := ws.Read(name); !errors.Is(err, fault.ErrInvalidInput) {
			t.Errorf("Read(%q) = %v, want an error matching fault.ErrInvalidInput", name, err)
		}
		if err := ws.Remove(name); !errors.Is(err, fault.ErrInvalidInput) {
			t.Errorf("Remove(%q) = %v, want an error matching fault.ErrInvalidInput", name, err)
		}
	}
	if diff := cmp.Diff(before, listTree(t, parent)); diff != "" {
		t.Errorf("files changed (-before +after):\n%s", diff)
	}
}

func TestWorkspaceReadTooLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 64 MiB")
	}
	t.Parallel()
	ws := openWorkspace(t)
	if err := os.WriteFile(ws.Path("big"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(ws.Path("big"), 64<<20+1); err != nil { // sparse
		t.Fatal(err)
	}
	if _, err := ws.Read("big"); !errors.Is(err, fault.ErrInvalidInput) {
		t.Errorf("Read of a 64 MiB + 1 file = %v, want an error matching fault.ErrInvalidInput", err)
	}
	if err := os.Truncate(ws.Path("big"), 64<<20); err != nil {
		t.Fatal(err)
	}
	if data, err := ws.Read("big"); err != nil || len(data) != 64<<20 {
		t.Errorf("Read of a 64 MiB file = %d bytes, %v", len(data), err)
	}
}

func TestWorkspaceEnvelopes(t *testing.T) {
	t.Parallel()
	ws := openWorkspace(t)
	for _, name := range []string{
		"test.aaaaaaaa.dsse.json",
		"build.bbbbbbbb.dsse.json",
		"_provenance.cccccccc.dsse.json",
		"build.bbbbbbbb.link",
		"build.pending.json",
		".hidden.dsse.json",
		".build.dsse.json.tmp-123",
		"sub/nested.dsse.json",
	} {
		if err := ws.Write(name, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(ws.Path("dir.dsse.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("build.bbbbbbbb.dsse.json", ws.Path("link.dsse.json")); err != nil {
		t.Fatal(err)
	}
	got, err := ws.Envelopes()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"_provenance.cccccccc.dsse.json", "build.bbbbbbbb.dsse.json", "test.aaaaaaaa.dsse.json"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Envelopes (-want +got):\n%s", diff)
	}
}

func TestWorkspaceReadEnvelope(t *testing.T) {
	t.Parallel()
	ws := openWorkspace(t)
	valid := `{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"k","sig":"c2ln"}]}`
	if err := ws.Write("ok.dsse.json", []byte(valid)); err != nil {
		t.Fatal(err)
	}
	env, err := ws.ReadEnvelope("ok.dsse.json")
	if err != nil {
		t.Fatal(err)
	}
	if env.PayloadType != envelope.PayloadTypeInToto || len(env.Signatures) != 1 || env.Signatures[0].KeyID != "k" {
		t.Errorf("ReadEnvelope = %+v", env)
	}
	if _, err := ws.ReadEnvelope("missing.dsse.json"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadEnvelope(missing) = %v, want fs.ErrNotExist", err)
	}
}

func TestRecordFileNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		keyID, envelope, link string
	}{
		{"de140e5973a39f855552077e10423dea345a99d01e908e7192b182a06d6d5ef5", "build.de140e59.dsse.json", "build.de140e59.link"},
		{"abcd", "build.abcd.dsse.json", "build.abcd.link"},
		{"12345678", "build.12345678.dsse.json", "build.12345678.link"},
		{"", "build.nokeyid.dsse.json", "build.nokeyid.link"},
	}
	for _, tt := range tests {
		if got := workspace.EnvelopeName("build", tt.keyID); got != tt.envelope {
			t.Errorf("workspace.EnvelopeName(build, %q) = %q, want %q", tt.keyID, got, tt.envelope)
		}
		if got := workspace.LinkName("build", tt.keyID); got != tt.link {
			t.Errorf("workspace.LinkName(build, %q) = %q, want %q", tt.keyID, got, tt.link)
		}
	}
}

func TestWriteFileAtomic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	if err := safefile.WriteAtomic(path, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if diff := cmp.Diff([]string{"key"}, listTree(t, dir)); diff != "" {
		t.Errorf("directory (-want +got):\n%s", diff)
	}

	// Writing over a symlink replaces the link; its target is untouched.
	target := filepath.Join(dir, "target")
	writeFile(t, target, "target")
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := safefile.WriteAtomic(link, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(target); string(data) != "target" {
		t.Errorf("the symlink's target was written through: %q", data)
	}
	if fi, err := os.Lstat(link); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("%s is not a regular file now: %v", link, err)
	}

	// A missing directory is an error, and nothing is left behind.
	if err := safefile.WriteAtomic(filepath.Join(dir, "missing", "f"), []byte("x"), 0o644); err == nil {
		t.Error("WriteFileAtomic into a missing directory succeeded")
	}
	// A directory in the way: the temporary file is removed.
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "adir", "f"), "x")
	if err := safefile.WriteAtomic(filepath.Join(dir, "adir"), []byte("x"), 0o644); err == nil {
		t.Error("WriteFileAtomic over a non-empty directory succeeded")
	}
	if diff := cmp.Diff([]string{"adir/", "adir/f", "key", "link", "target"}, listTree(t, dir)); diff != "" {
		t.Errorf("directory (-want +got):\n%s", diff)
	}
}

// TestWriteFileAtomicReaders: a reader sees a whole old or a whole new file,
// never a part, however writes interleave.
func TestWriteFileAtomicReaders(t *testing.T) {
	t.Parallel()
	ws := openWorkspace(t)
	contents := make([][]byte, 4)
	for i := range contents {
		contents[i] = bytes.Repeat([]byte(fmt.Sprintf("version %d;", i)), 20000)
	}
	if err := ws.Write("record", contents[0]); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i, c := range contents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if err := ws.Write("record", c); err != nil {
					t.Errorf("writer %d: %v", i, err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for reading := true; reading; {
		select {
		case <-done:
			reading = false
		default:
		}
		data, err := ws.Read("record")
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		ok := false
		for _, c := range contents {
			ok = ok || bytes.Equal(data, c)
		}
		if !ok {
			t.Fatalf("read a partial file of %d bytes", len(data))
		}
	}
	if diff := cmp.Diff([]string{"record"}, listTree(t, ws.Dir())); diff != "" {
		t.Errorf("temporary files left (-want +got):\n%s", diff)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// listTree lists the files and directories (with a trailing /) below dir.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if d.IsDir() {
			rel += "/"
		}
		out = append(out, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A file written atomically appears whole when committed; aborted, it
// leaves nothing behind, not even its temporary file.
func TestAtomicFileAbortLeavesNothing(t *testing.T) {
	t.Parallel()
	ws, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := ws.Start("x.dsse.json")
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte(`{"payloadType":`))
	f.Abort()
	if entries, _ := os.ReadDir(ws.Dir()); len(entries) != 0 {
		t.Errorf("workspace holds %v after an aborted write", entries)
	}

	f, err = ws.Start("y.dsse.json")
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("{}"))
	if entries, _ := os.ReadDir(ws.Dir()); len(entries) != 1 || entries[0].Name() == "y.dsse.json" {
		t.Errorf("workspace holds %v before the commit, want only a temporary file", entries)
	}
	if err := f.Commit(nil); err != nil {
		t.Fatal(err)
	}
	f.Abort() // a no-op once committed
	if data, err := os.ReadFile(ws.Path("y.dsse.json")); err != nil || string(data) != "{}" {
		t.Errorf("committed file: %q, %v", data, err)
	}
	if entries, _ := os.ReadDir(ws.Dir()); len(entries) != 1 {
		t.Errorf("workspace holds %v after the commit, want the file alone", entries)
	}
}
