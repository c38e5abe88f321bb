//go:build unix

package hashing

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// TestWorkerFIFO gives a worker a FIFO where the walk listed a file: it
// must neither block nor hash it.
func TestWorkerFIFO(t *testing.T) {
	t.Parallel()
	for _, wl := range walkers {
		t.Run(wl.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			hashTree(t, dir, map[string]string{"fifo": "a file when listed"})
			w, f := workerFile(t, dir, "fifo", wl.opts...)
			p := filepath.Join(dir, "fifo")
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := unix.Mkfifo(p, 0o644); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
			// A writer that keeps the FIFO open and never writes.
			wfd, err := unix.Open(p, unix.O_RDWR|unix.O_NONBLOCK, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(wfd)
			h, err := NewHasher()
			if err != nil {
				t.Fatal(err)
			}
			var n atomic.Int64
			if _, err := h.newWorker(w).hash(context.Background(), f, &n); !errors.Is(err, ErrArtifactChanged) {
				t.Errorf("hash of a FIFO: error = %v, want ErrArtifactChanged", err)
			}
		})
	}
}
