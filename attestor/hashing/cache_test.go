package hashing

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/fault"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// futureCache returns an empty cache whose clock is an hour ahead, so that
// files written by the test are old enough to be remembered: these tests
// check that the identity of a file catches changes, without the racy
// window's help.
func futureCache(path string) *Cache {
	return futureCacheKey(path, testCacheKey)
}

// testCacheKey is the key of the tests' cache files.
var testCacheKey = []byte("0123456789abcdef0123456789abcdef")

// futureCacheKey is futureCache with a cache file authenticated by key.
func futureCacheKey(path string, key []byte) *Cache {
	if path == "" {
		c := NewCache()
		c.now = func() time.Time { return time.Now().Add(time.Hour) }
		return c
	}
	c, err := OpenCache(path, key)
	if err != nil {
		panic(err)
	}
	c.memFSOK = true // these tests check identities, wherever TMPDIR is
	c.now = func() time.Time { return time.Now().Add(time.Hour) }
	return c
}

// cachedHash hashes paths under dir with c and returns the result and the
// last progress report.
func cachedHash(t *testing.T, dir string, c *Cache, opts ...Option) ([]hashed, Progress) {
	t.Helper()
	var last Progress
	opts = append([]Option{WithCache(c), WithProgress(func(p Progress) { last = p })}, opts...)
	got, err := hashRun(t, dir, []string{"."}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if !last.Done {
		t.Fatalf("no last progress report: %+v", last)
	}
	return got, last
}

// settle waits until a change made now gets other timestamps than the
// files written before (the kernel stamps files with a clock that ticks
// every few milliseconds).
func settle() { time.Sleep(30 * time.Millisecond) }

func TestCacheHit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	hashTree(t, dir, map[string]string{"a": "1", "b/c": "22", "b/d": "", "link": "->a"})
	c := futureCache("")
	first, p := cachedHash(t, dir, c)
	if p.CachedFiles != 0 {
		t.Errorf("first pass: %d files from the cache, want 0", p.CachedFiles)
	}
	second, p := cachedHash(t, dir, c)
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("second pass differs (-first +second):\n%s", diff)
	}
	want := Progress{Files: 4, Bytes: 4, TotalFiles: 4, TotalBytes: 4, CachedFiles: 4, CachedBytes: 4, Done: true}
	if diff := cmp.Diff(want, p, cmpopts.IgnoreFields(Progress{}, "Elapsed")); diff != "" {
		t.Errorf("second pass progress (-want +got):\n%s", diff)
	}
	// A Hasher of other options with the same cache.
	got, err := hashRun(t, dir, []string{"b"}, WithCache(c), WithWorkers(1))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sha256Only("b/c", "22", "b/d", ""), got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// The zero Cache is an empty one.
	for range 2 {
		if got, _ := cachedHash(t, dir, &Cache{}); !cmp.Equal(got, first) {
			t.Errorf("zero Cache: %v, want %v", got, first)
		}
	}
}

// TestCacheDetectsChanges changes a file between two passes in ways that
// keep its size and, where it can be set, its modification time.
func TestCacheDetectsChanges(t *testing.T) {
	t.Parallel()
	restoreMtime := func(p string, fi os.FileInfo) error { return os.Chtimes(p, fi.ModTime(), fi.ModTime()) }
	tests := []struct {
		name   string
		change func(p string, fi os.FileInfo) error
	}{
		{"rewritten in place, mtime restored", func(p string, fi os.FileInfo) error {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			if _, err := f.WriteAt([]byte("NEW!"), 0); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			return restoreMtime(p, fi)
		}},
		{"truncated and rewritten, mtime restored", func(p string, fi os.FileInfo) error {
			if err := os.WriteFile(p, []byte("NEW!"), 0o644); err != nil {
				return err
			}
			return restoreMtime(p, fi)
		}},
		{"replaced by rename, mtime restored", func(p string, fi os.FileInfo) error {
			tmp := p + ".new"
			if err := os.WriteFile(tmp, []byte("NEW!"), 0o644); err != nil {
				return err
			}
			if err := restoreMtime(tmp, fi); err != nil {
				return err
			}
			return os.Rename(tmp, p)
		}},
		{"removed, and written again with the old mtime", func(p string, fi os.FileInfo) error {
			// Likely to reuse the inode number.
			if err := os.Remove(p); err != nil {
				return err
			}
			if err := os.WriteFile(p, []byte("NEW!"), 0o644); err != nil {
				return err
			}
			return restoreMtime(p, fi)
		}},
		{"modified within the same timestamp", func(p string, fi os.FileInfo) error {
			// As a file system with coarse timestamps would leave it: only
			// the change time (which cannot be set back) moves.
			if err := os.WriteFile(p, []byte("NEW!"), 0o644); err != nil {
				return err
			}
			return restoreMtime(p, fi)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			hashTree(t, dir, map[string]string{"victim": "old!", "other": "other"})
			c := futureCache("")
			cachedHash(t, dir, c)
			settle()
			p := filepath.Join(dir, "victim")
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.change(p, fi); err != nil {
				t.Fatal(err)
			}
			got, prog := cachedHash(t, dir, c)
			if diff := cmp.Diff(sha256Only("other", "other", "victim", "NEW!"), got); diff != "" {
				t.Errorf("after the change (-want +got):\n%s", diff)
			}
			if prog.CachedFiles != 1 {
				t.Errorf("%d files from the cache, want 1 (other)", prog.CachedFiles)
			}
		})
	}
}

// TestCacheRacy checks that a file that changed shortly before the pass
// that hashed it began, or after, is not remembered: a later change in the
// same timestamp granule would leave its size and times as they were.
func TestCacheRacy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	hashTree(t, dir, map[string]string{"new": "just written"})
	c := NewCache() // the real clock
	if _, p := cachedHash(t, dir, c); p.CachedFiles != 0 {
		t.Fatalf("first pass: %d files from the cache", p.CachedFiles)
	}
	if n := len(c.entries); n != 0 {
		t.Errorf("the cache remembered %d files that changed less than %s before the pass", n, racyWindow)
	}
	// Changed in place, same size, mtime set back: still read.
	p := filepath.Join(dir, "new")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("JUST WRITTEN"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	got, prog := cachedHash(t, dir, c)
	if diff := cmp.Diff(sha256Only("new", "JUST WRITTEN"), got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if prog.CachedFiles != 0 {
		t.Errorf("%d files from the cache, want 0", prog.CachedFiles)
	}

	// The window is measured from the start of the pass: a clock at the
	// file's change time plus less than the window does not trust it.
	c = NewCache()
	c.now = func() time.Time { return fi.ModTime().Add(racyWindow / 2) }
	cachedHash(t, dir, c)
	if n := len(c.entries); n != 0 {
		t.Errorf("the cache remembered %d files inside the racy window", n)
	}
}

func TestCacheOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	hashTree(t, dir, map[string]string{"crlf": "a\r\nb\r\n"})
	c := futureCache("")
	plain, _ := cachedHash(t, dir, c)
	// Other line-ending handling: read again, other digest.
	norm, p := cachedHash(t, dir, c, WithNormalizeLineEndings())
	if p.CachedFiles != 0 || norm[0].Digest["sha256"] != hashHex("a\nb\n") {
		t.Errorf("normalized after plain: %d cached, %v", p.CachedFiles, norm)
	}
	if got, p := cachedHash(t, dir, c, WithNormalizeLineEndings()); p.CachedFiles != 1 || !cmp.Equal(got, norm) {
		t.Errorf("normalized again: %d cached, %v, want %v", p.CachedFiles, got, norm)
	}
	if got, p := cachedHash(t, dir, c); p.CachedFiles != 0 || !cmp.Equal(got, plain) {
		t.Errorf("plain after normalized: %d cached, %v, want %v", p.CachedFiles, got, plain)
	}
	// An algorithm the cache does not have: read again; then both are known.
	both, p := cachedHash(t, dir, c, WithAlgorithms("sha256", "sha512"))
	if p.CachedFiles != 0 || len(both[0].Digest) != 2 {
		t.Errorf("sha256+sha512: %d cached, %v", p.CachedFiles, both)
	}
	for _, algs := range [][]string{{"sha512"}, {"sha256"}, {"sha512", "sha256"}} {
		got, p := cachedHash(t, dir, c, WithAlgorithms(algs...))
		if p.CachedFiles != 1 || len(got[0].Digest) != len(algs) {
			t.Errorf("%v: %d cached, %v", algs, p.CachedFiles, got)
		}
		for _, a := range algs {
			if got[0].Digest[a] != both[0].Digest[a] {
				t.Errorf("%v: %s = %s, want %s", algs, a, got[0].Digest[a], both[0].Digest[a])
			}
		}
	}
}

func TestWithoutCache(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	hashTree(t, dir, map[string]string{"a": "a"})
	c := futureCache("")
	for _, opts := range [][]Option{
		{WithCache(c), WithoutCache()},
		{WithoutCache(), WithCache(c)},
		{WithoutCache(), WithCacheFile(filepath.Join(dir, "cache"), testCacheKey)},
	} {
		for range 2 {
			got, err := hashRun(t, dir, []string{"."}, opts...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(sha256Only("a", "a"), got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		}
	}
	if len(c.entries) != 0 {
		t.Errorf("WithoutCache: the cache has %d entries", len(c.entries))
	}
	if _, err := os.Stat(filepath.Join(dir, "cache")); err == nil {
		t.Error("WithoutCache: the cache file was written")
	}
	if _, err := NewHasher(WithCacheFile("", testCacheKey)); !errors.Is(err, fault.ErrInvalidInput) {
		t.Errorf("WithCacheFile(\"\"): %v, want fault.ErrInvalidInput", err)
	}
	if _, err := NewHasher(WithCacheFile("cache", testCacheKey[:MinCacheKeySize-1])); !errors.Is(err, fault.ErrInvalidInput) {
		t.Errorf("WithCacheFile with a short key: %v, want fault.ErrInvalidInput", err)
	}
}

// TestCacheFile shares a cache file between Hashers, as the phases of a
// build share the workspace, and checks that a damaged or foreign file is
// ignored.
func TestCacheFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tree := map[string]string{}
	for i := range 50 {
		tree[filepath.Join("d", strings.Repeat("x", i%5), "f"+string(rune('a'+i%26))+string(rune('a'+i/26)))] = strings.Repeat("y", i)
	}
	hashTree(t, dir, tree)
	path := filepath.Join(t.TempDir(), "_cache", "hash.v1")
	want, _ := cachedHash(t, dir, futureCache(path))
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the cache file was not written: %v", err)
	}
	got, p := cachedHash(t, dir, futureCache(path))
	if p.CachedFiles != len(tree) {
		t.Errorf("a new Hasher on the file: %d files from the cache, want %d", p.CachedFiles, len(tree))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	damaged := map[string]func([]byte) []byte{
		"flipped bit":   func(b []byte) []byte { b[len(b)/2] ^= 1; return b },
		"cut short":     func(b []byte) []byte { return b[:len(b)-10] },
		"empty":         func([]byte) []byte { return nil },
		"other version": func(b []byte) []byte { b[len(cacheMagic)-1]++; return b },
		"garbage":       func([]byte) []byte { return []byte("not a cache at all, not at all") },
	}
	for name, damage := range damaged {
		if err := os.WriteFile(path, damage(append([]byte(nil), good...)), 0o644); err != nil {
			t.Fatal(err)
		}
		got, p := cachedHash(t, dir, futureCache(path))
		if p.CachedFiles != 0 {
			t.Errorf("%s: %d files from the cache, want 0", name, p.CachedFiles)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: (-want +got):\n%s", name, diff)
		}
		// Rewritten whole.
		if data, err := os.ReadFile(path); err != nil || len(data) != len(good) {
			t.Errorf("%s: the cache file was not rewritten (%d bytes, %v)", name, len(data), err)
		}
	}

	// Writable by others: ignored.
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, p := cachedHash(t, dir, futureCache(path)); p.CachedFiles != 0 {
		t.Errorf("a world-writable cache file was used (%d files)", p.CachedFiles)
	}

	// Within a process the file is read once: what changes it between two
	// passes is not trusted.
	c := futureCache(path)
	cachedHash(t, dir, c)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, p := cachedHash(t, dir, c); p.CachedFiles != len(tree) {
		t.Errorf("second pass of one Cache: %d files from the cache, want %d", p.CachedFiles, len(tree))
	}
}

// TestCacheUnwritable: a cache file that cannot be written is no error.
func TestCacheUnwritable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	hashTree(t, dir, map[string]string{"a": "a", "blocker": "a file where the cache's directory would be"})
	got, _ := cachedHash(t, dir, futureCache(filepath.Join(dir, "blocker", "hash.v1")))
	if diff := cmp.Diff(sha256Only("a", "a", "blocker", "a file where the cache's directory would be"), got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestCacheEncoding(t *testing.T) {
	t.Parallel()
	entries := map[string]*cacheEntry{
		"/a": {dev: 1, ino: 2, size: 3, mtime: -4, ctime: 5, used: 6, sums: [3]string{hashHex("a"), "", ""}},
		"/b/ü": {dev: 1 << 63, ino: 1<<64 - 1, size: 1 << 40, mtime: 1 << 62, ctime: 7, normalized: true,
			sums: [3]string{hashHex("b"), strings.Repeat("ab", 48), strings.Repeat("cd", 64)}},
	}
	data := encodeCache(entries, testCacheKey)
	got, err := decodeCache(data, testCacheKey)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(entries, got, cmp.AllowUnexported(cacheEntry{})); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if again := encodeCache(got, testCacheKey); len(again) != len(data) {
		t.Errorf("encoded again: %d bytes, want %d", len(again), len(data))
	}
	if _, err := decodeCache(data, []byte("another key, another key, another")); err == nil {
		t.Error("decoded with another key")
	}
	empty, err := decodeCache(encodeCache(nil, testCacheKey), testCacheKey)
	if err != nil || len(empty) != 0 {
		t.Errorf("empty cache: %v, %v", empty, err)
	}
}

func TestCacheEvict(t *testing.T) {
	t.Parallel()
	c := NewCache()
	for i := range 10 {
		c.entries[string(rune('a'+i))] = &cacheEntry{used: int64(i)}
	}
	c.evict(3)
	var keys []string
	for k := range c.entries {
		keys = append(keys, k)
	}
	if diff := cmp.Diff([]string{"h", "i", "j"}, keys, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
}

// FuzzDecodeCache: decoding never panics, and what decodes survives an
// encode → decode round trip. The fuzzer writes the body; the harness
// seals it with the key (else nothing would get past the HMAC), and checks
// that a file sealed with another key is never decoded.
func FuzzDecodeCache(f *testing.F) {
	seed := encodeCache(map[string]*cacheEntry{"/x": {dev: 1, ino: 2, size: 3, sums: [3]string{hashHex("x")}}}, testCacheKey)
	f.Add(seed[:len(seed)-cacheTagSize])
	f.Add([]byte(cacheMagic))
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, err := decodeCache(append(slices.Clip(body), cacheTag(body, []byte("not the key, not the key"))...), testCacheKey); err == nil {
			t.Fatal("decoded a file sealed with another key")
		}
		entries, err := decodeCache(append(slices.Clip(body), cacheTag(body, testCacheKey)...), testCacheKey)
		if err != nil {
			return
		}
		again, err := decodeCache(encodeCache(entries, testCacheKey), testCacheKey)
		if err != nil {
			t.Fatalf("decoding an encoded cache: %v", err)
		}
		if diff := cmp.Diff(entries, again, cmp.AllowUnexported(cacheEntry{})); diff != "" {
			t.Errorf("round trip (-first +second):\n%s", diff)
		}
	})
}

// TestCacheConcurrentUse shares one cache between Hashers on several
// goroutines (run with -race).
func TestCacheConcurrentUse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	hashTree(t, dir, map[string]string{"a/1": "1", "a/2": "2", "b/3": "3"})
	c := futureCache(filepath.Join(t.TempDir(), "cache"))
	done := make(chan error)
	for _, p := range []string{"a", "b", ".", "a", "b", "."} {
		go func() {
			h, err := NewHasher(WithBaseDir(dir), WithCache(c))
			if err == nil {
				_, err = h.Hash(context.Background(), []string{p})
			}
			done <- err
		}()
	}
	for range 6 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
