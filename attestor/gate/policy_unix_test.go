//go:build unix

package gate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/fault"
)

// TestLoadPolicyFIFO: a FIFO at the policy path is a policy error, at
// once: LoadPolicy never waits on it.
func TestLoadPolicyFIFO(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if f, err := os.OpenFile(path, os.O_RDWR, 0); err == nil {
			f.Close()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := LoadPolicy(path)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrPolicy) || !errors.Is(err, fault.ErrInvalidInput) || !strings.Contains(err.Error(), "FIFO") {
			t.Fatalf("want a policy error that says the policy is a FIFO, got %v", err)
		}
	case <-ctx.Done():
		t.Fatal("LoadPolicy blocked on a FIFO")
	}
}
