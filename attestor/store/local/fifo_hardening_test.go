//go:build unix

package local_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/workspace"

	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/local"
	"github.com/attestor/attestor/attestor/store/storetest"
)

// within runs f and fails the test if it has not returned within 10s: a
// read blocked in open(2) on a FIFO fails the test rather than hanging it.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s still blocked after 10s", what)
	}
}

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	// Whatever is blocked opening it for reading is let go at the end.
	t.Cleanup(func() {
		if f, err := os.OpenFile(path, os.O_RDWR, 0); err == nil {
			f.Close()
		}
	})
}

// TestFIFOs: a FIFO planted where the store reads (a bundle next to an
// envelope, in the workspace and in a store directory) never blocks: the
// workspace read fails with an error matching fault.ErrInvalidInput
// that names the file, the store's Get skips the bundle.
func TestFIFOs(t *testing.T) {
	t.Run("workspace bundle", func(t *testing.T) {
		ws, err := workspace.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		subj := storetest.FileSubject(t)
		a := storetest.Attestation(t, subj, envelope.PredicateTypeLink, "build")
		if err := ws.Write("build.abcdef12.dsse.json", a.Envelope); err != nil {
			t.Fatal(err)
		}
		mkfifo(t, ws.Path("build.abcdef12.sigstore.json"))
		within(t, "ReadWorkspace", func() {
			_, _, err = local.ReadWorkspace(ws)
		})
		if !errors.Is(err, fault.ErrInvalidInput) || !strings.Contains(err.Error(), "build.abcdef12.sigstore.json") {
			t.Errorf("ReadWorkspace = %v, want an error matching fault.ErrInvalidInput naming the bundle", err)
		}
	})
	t.Run("store bundle", func(t *testing.T) {
		d, err := local.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		subj := storetest.FileSubject(t)
		a := storetest.Attestation(t, subj, envelope.PredicateTypeLink, "a")
		if err := d.Put(t.Context(), subj, a); err != nil {
			t.Fatal(err)
		}
		dg, _ := a.Digest()
		mkfifo(t, filepath.Join(d.SubjectDir(subj), dg+".bundle.json"))
		var got []store.Attestation
		within(t, "Get", func() {
			got, err = d.Get(t.Context(), subj)
		})
		if err != nil {
			t.Fatal(err)
		}
		storetest.Equal(t, got, a)
	})
}

// TestEnvelopeSwappedForFIFO: an envelope that is a regular file when the
// directory is listed and a FIFO when it is opened (something swaps the
// two all along) never blocks ReadWorkspace or Get; ReadWorkspace fails
// with an error matching fault.ErrInvalidInput when it meets the FIFO.
func TestEnvelopeSwappedForFIFO(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: races a file swap")
	}
	subj := storetest.FileSubject(t)
	ws, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Envelopes read before the swapped one widen the window between
	// listing and opening.
	var atts []store.Attestation
	for i := range 20 {
		a := storetest.Attestation(t, subj, envelope.PredicateTypeLink, strings.Repeat("x", 64<<10)+string(rune('a'+i)))
		atts = append(atts, a)
		if err := ws.Write(workspace.AttestationName("step"+string(rune('a'+i)), "abcdef12"), a.Envelope); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Put(t.Context(), subj, atts...); err != nil {
		t.Fatal(err)
	}
	last := atts[0]
	lastDigest, _ := last.Digest()
	for _, a := range atts {
		if dg, _ := a.Digest(); dg > lastDigest {
			last, lastDigest = a, dg
		}
	}
	swapped := []string{
		ws.Path(workspace.AttestationName("stepz", "abcdef12")),
		filepath.Join(d.SubjectDir(subj), lastDigest+".dsse.json"),
	}
	if err := os.WriteFile(swapped[0], last.Envelope, 0o644); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	swapperDone := make(chan struct{})
	t.Cleanup(func() {
		stop.Store(true)
		<-swapperDone
	})
	go func() {
		defer close(swapperDone)
		for i := 0; !stop.Load(); i++ {
			for _, p := range swapped {
				tmp := p + ".tmp"
				os.Remove(tmp)
				if i%2 == 0 {
					syscall.Mkfifo(tmp, 0o644)
				} else {
					os.WriteFile(tmp, last.Envelope, 0o644)
				}
				os.Rename(tmp, p)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	var fifoErrs int
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		within(t, "ReadWorkspace", func() {
			_, _, err = local.ReadWorkspace(ws)
		})
		if err != nil {
			if !errors.Is(err, fault.ErrInvalidInput) && !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("ReadWorkspace = %v, want success or an error matching fault.ErrInvalidInput", err)
			}
			if strings.Contains(err.Error(), "FIFO") {
				fifoErrs++
			}
		}
		within(t, "Get", func() {
			_, err = d.Get(t.Context(), subj)
		})
		if err != nil {
			t.Fatalf("Get = %v", err)
		}
	}
	t.Logf("ReadWorkspace met the FIFO %d times", fifoErrs)
}
