package hashing

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCacheNotKeptOnTmpfs: a cache file is neither read nor written for a
// tree on tmpfs, where writes through a shared memory map leave a file's
// times as they were.
func TestCacheNotKeptOnTmpfs(t *testing.T) {
	t.Parallel()
	shm, err := os.MkdirTemp("/dev/shm", "attestor-test-")
	if err != nil {
		t.Skipf("no /dev/shm here: %v", err)
	}
	defer os.RemoveAll(shm)
	if !inMemoryDir(shm) {
		t.Skip("/dev/shm is not tmpfs here")
	}
	hashTree(t, shm, map[string]string{"a": "a"})
	path := filepath.Join(t.TempDir(), "hash.v1")
	c, err := OpenCache(path, testCacheKey)
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return time.Now().Add(time.Hour) }
	cachedHash(t, shm, c)
	c.flush()
	if _, p := cachedHash(t, shm, c); p.CachedFiles != 0 {
		t.Errorf("a tree on tmpfs: %d files from a cache kept in a file", p.CachedFiles)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a cache file was written for a tree on tmpfs: %v", err)
	}
}
