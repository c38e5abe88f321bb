package local_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/workspace"

	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/local"
	"github.com/attestor/attestor/attestor/store/storetest"
)

func TestConformance(t *testing.T) {
	root := t.TempDir()
	storetest.Run(t, storetest.Config{
		New: func(t *testing.T) store.Store {
			d, err := local.New(root)
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
	})
}

func TestGetSkipsBadFiles(t *testing.T) {
	d, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	subj := storetest.FileSubject(t)
	a := storetest.Attestation(t, subj, "https://slsa.dev/provenance/v1", "a")
	if err := d.Put(t.Context(), subj, a); err != nil {
		t.Fatal(err)
	}
	dir := d.SubjectDir(subj)
	b := storetest.Attestation(t, subj, "https://slsa.dev/provenance/v1", "b")
	// An attestation under another digest's name, garbage, and an
	// oversize file are all skipped.
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(strings.Repeat("0", 64)+".dsse.json", b.Envelope)
	write(strings.Repeat("1", 64)+".dsse.json", []byte("{"))
	write(strings.Repeat("2", 64)+".dsse.json", make([]byte, store.MaxEnvelopeSize+1))
	got, err := d.Get(t.Context(), subj)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Equal(t, got, a)
}

func TestBundleKept(t *testing.T) {
	d, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	subj := storetest.FileSubject(t)
	a := storetest.Attestation(t, subj, "https://slsa.dev/provenance/v1", "a")
	if err := d.Put(t.Context(), subj, a); err != nil {
		t.Fatal(err)
	}
	withBundle := a
	withBundle.Bundle = []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`)
	if err := d.Put(t.Context(), subj, withBundle); err != nil {
		t.Fatal(err)
	}
	got, err := d.Get(t.Context(), subj)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || string(got[0].Bundle) != string(withBundle.Bundle) {
		t.Fatalf("Get = %d attestations (bundle %q), want 1 with the bundle", len(got), got[0].Bundle)
	}
}

func TestReadWorkspace(t *testing.T) {
	ws, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	subj := storetest.FileSubject(t)
	a := storetest.Attestation(t, subj, envelope.PredicateTypeLink, "build")
	p := storetest.Attestation(t, subj, "https://slsa.dev/provenance/v1", "prov")
	if err := ws.Write("build.abcdef12.dsse.json", a.Envelope); err != nil {
		t.Fatal(err)
	}
	if err := ws.Write(workspace.AttestationName("provenance", "abcdef12"), p.Envelope); err != nil {
		t.Fatal(err)
	}
	bundle := []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`)
	if err := ws.Write("build.abcdef12.sigstore.json", bundle); err != nil {
		t.Fatal(err)
	}
	atts, names, err := local.ReadWorkspace(ws)
	if err != nil {
		t.Fatal(err)
	}
	if string(atts[1].Bundle) != string(bundle) || atts[0].Bundle != nil {
		t.Errorf("bundles not read next to their envelopes: %q, %q", atts[0].Bundle, atts[1].Bundle)
	}
	if len(names) != 2 {
		t.Fatalf("names = %v", names)
	}
	storetest.Equal(t, atts, a, p)
	for _, at := range atts {
		if at.PredicateType == "" {
			t.Errorf("attestation without predicate type")
		}
	}

	if err := ws.Write("bad.abcdef12.dsse.json", []byte("{")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := local.ReadWorkspace(ws); !errors.Is(err, fault.ErrInvalidInput) {
		t.Fatalf("ReadWorkspace with a malformed envelope = %v, want ErrInvalidInput", err)
	}
}

func TestInvalidSubject(t *testing.T) {
	d, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	subj := storetest.FileSubject(t)
	subj.Digest.Hex = "../../etc"
	if _, err := d.Get(t.Context(), subj); !errors.Is(err, fault.ErrInvalidInput) {
		t.Fatalf("Get(../) = %v, want ErrInvalidInput", err)
	}
}

// TestReadWorkspaceTooLarge: an oversize envelope or bundle in the
// workspace fails ReadWorkspace with an error matching store.ErrTooLarge
// and fault.ErrInvalidInput.
func TestReadWorkspaceTooLarge(t *testing.T) {
	for name, big := range map[string]string{
		"envelope": "build.abcdef12.dsse.json",
		"bundle":   "build.abcdef12.sigstore.json",
	} {
		t.Run(name, func(t *testing.T) {
			ws, err := workspace.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			subj := storetest.FileSubject(t)
			a := storetest.Attestation(t, subj, envelope.PredicateTypeLink, "build")
			if err := ws.Write("build.abcdef12.dsse.json", a.Envelope); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(ws.Path(big), make([]byte, store.MaxBundleSize+1), 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err = local.ReadWorkspace(ws)
			if !errors.Is(err, store.ErrTooLarge) || !errors.Is(err, fault.ErrInvalidInput) {
				t.Errorf("ReadWorkspace = %v, want an error matching store.ErrTooLarge and fault.ErrInvalidInput", err)
			}
		})
	}
}

// TestReadWorkspaceTotalBound plants more envelopes than a workspace is
// read for, and envelopes whose sizes add up to more than the total bound:
// push refuses the workspace, naming the bound, without reading it all.
func TestReadWorkspaceTotalBound(t *testing.T) {
	t.Run("count", func(t *testing.T) {
		ws, err := workspace.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		for i := range store.MaxWorkspaceFiles + 1 {
			if err := os.WriteFile(ws.Path(fmt.Sprintf("s%d.abcdef12.dsse.json", i)), []byte("{}"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := local.ReadWorkspace(ws); !errors.Is(err, store.ErrTooLarge) || !strings.Contains(err.Error(), "4096") {
			t.Errorf("ReadWorkspace of %d envelopes = %v, want store.ErrTooLarge naming the bound", store.MaxWorkspaceFiles+1, err)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		ws, err := workspace.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		subj := storetest.FileSubject(t)
		env := storetest.Attestation(t, subj, envelope.PredicateTypeLink, "build").Envelope
		// Valid envelopes padded with JSON whitespace to just under the
		// bound of one each: enough of them to pass the total.
		padded := append(append([]byte(nil), env[:len(env)-1]...), bytes.Repeat([]byte(" "), store.MaxEnvelopeSize-len(env)-1)...)
		padded = append(padded, '}')
		for i := range store.MaxWorkspaceTotal/store.MaxEnvelopeSize + 1 {
			if err := os.WriteFile(ws.Path(fmt.Sprintf("s%03d.abcdef12.dsse.json", i)), padded, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := local.ReadWorkspace(ws); !errors.Is(err, store.ErrTooLarge) || !strings.Contains(err.Error(), "512 MiB") {
			t.Errorf("ReadWorkspace of envelopes over the total = %v, want store.ErrTooLarge naming the bound", err)
		}
	})
}
