//go:build unix

package gate

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/workspace"

	"github.com/attestor/attestor/attestor/store"
)

// TestWorkspaceFIFO: a FIFO planted where the workspace source reads (a
// bundle beside an envelope, an envelope) never blocks it: a FIFO bundle
// is an error matching fault.ErrInvalidInput that names it; a FIFO
// envelope is not read. A regression fails on the context's deadline
// instead of hanging.
func TestWorkspaceFIFO(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		fifo    string // where the FIFO is planted
		wantErr bool
	}{
		{name: "bundle", fifo: "build.01234567" + workspace.SuffixBundle, wantErr: true},
		{name: "envelope", fifo: "evil.01234567" + workspace.SuffixEnvelope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ws := openWorkspace(t)
			plant(t, ws, "build.01234567"+workspace.SuffixEnvelope, 10)
			path := ws.Path(tt.fifo)
			if err := syscall.Mkfifo(path, 0o644); err != nil {
				t.Fatal(err)
			}
			// Should a regression block in open(2), opening the FIFO for
			// reading and writing (which never blocks) releases it.
			t.Cleanup(func() {
				if f, err := os.OpenFile(path, os.O_RDWR, 0); err == nil {
					f.Close()
				}
			})

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			type result struct {
				atts []store.Attestation
				err  error
			}
			done := make(chan result, 1)
			go func() {
				atts, err := NewWorkspace(ws).Get(ctx, storeSubject{})
				done <- result{atts, err}
			}()
			var got result
			select {
			case got = <-done:
			case <-ctx.Done():
				t.Fatalf("Get blocked on the FIFO %s", path)
			}
			if !tt.wantErr {
				if got.err != nil || len(got.atts) != 1 {
					t.Fatalf("got %d envelopes, %v; want the regular one", len(got.atts), got.err)
				}
				return
			}
			if !errors.Is(got.err, fault.ErrInvalidInput) || !strings.Contains(got.err.Error(), path) || !strings.Contains(got.err.Error(), "FIFO") {
				t.Fatalf("want an error matching fault.ErrInvalidInput that names the FIFO %s, got %v", path, got.err)
			}
		})
	}
}
