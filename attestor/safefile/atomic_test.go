package safefile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestCreateAtomicExclusive(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "step.pending.json")
	const writers = 16
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		won     int
		existed int
	)
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := CreateAtomic(path, []byte{byte('a' + i)}, 0o644)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, fs.ErrExist):
				existed++
			default:
				t.Errorf("writer %d: %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	if won != 1 || existed != writers-1 {
		t.Fatalf("won %d, existed %d; want 1 and %d", won, existed, writers-1)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("directory holds %d files, want only the created one (no temp files left)", len(entries))
	}
}
