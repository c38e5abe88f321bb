package gate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/workspace"
)

// plant creates name in ws as a sparse file of size bytes (no disk, no
// memory: only its size is large).
func plant(t *testing.T, ws *workspace.Workspace, name string, size int64) string {
	t.Helper()
	path := ws.Path(name)
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
	return path
}

func openWorkspace(t *testing.T) *workspace.Workspace {
	t.Helper()
	ws, err := workspace.Open(filepath.Join(t.TempDir(), ".attestor"))
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

// TestWorkspaceTotalBound: the workspace source reads at most
// maxWorkspaceTotal bytes of envelopes and bundles in all, and checks it
// from the files' sizes before it reads any: planted envelopes, each
// under the bound of one, that exceed the total are refused with an
// error that says the total, the bound and the file, and the memory
// allocated stays far below the total. Not parallel: it measures the
// process's allocations.
func TestWorkspaceTotalBound(t *testing.T) {
	const size = 60 << 20 // each under maxWorkspaceEnvelope
	ws := openWorkspace(t)
	n := int(maxWorkspaceTotal/size) + 2
	var at string // the file at which the total exceeds the bound
	for i := range n {
		path := plant(t, ws, fmt.Sprintf("planted-%02d%s", i, workspace.SuffixEnvelope), size)
		if at == "" && int64(i+1)*size > maxWorkspaceTotal {
			at = path
		}
	}

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	atts, err := NewWorkspace(ws).Get(context.Background(), storeSubject{})
	runtime.ReadMemStats(&after)

	if err == nil {
		t.Fatalf("Get read %d envelopes of %d bytes each, %d in all: want an error", len(atts), size, int64(n)*size)
	}
	if !errors.Is(err, fault.ErrInvalidInput) || !errors.Is(err, fault.ErrTooLarge) {
		t.Errorf("want an error matching fault.ErrInvalidInput and fault.ErrTooLarge, got %v", err)
	}
	for _, want := range []string{"total", strconv.Itoa(maxWorkspaceTotal), at} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("Get allocated %d bytes before refusing %d bytes of envelopes: want the sizes checked before reading", alloc, int64(n)*size)
	}
}

// TestWorkspaceBounds: one envelope or bundle above maxWorkspaceEnvelope,
// or more than maxWorkspaceFiles envelopes, are refused; a workspace
// within the bounds is read, each envelope with its bundle if there is
// one.
func TestWorkspaceBounds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		plant func(t *testing.T, ws *workspace.Workspace) string // returns the path the error must name
		want  int                                                // envelopes, if no error
	}{
		{
			name: "an envelope above the bound of one",
			plant: func(t *testing.T, ws *workspace.Workspace) string {
				return plant(t, ws, "big"+workspace.SuffixEnvelope, maxWorkspaceEnvelope+1)
			},
		},
		{
			name: "a bundle above the bound of one",
			plant: func(t *testing.T, ws *workspace.Workspace) string {
				plant(t, ws, "small"+workspace.SuffixEnvelope, 10)
				return plant(t, ws, "small"+workspace.SuffixBundle, maxWorkspaceEnvelope+1)
			},
		},
		{
			name: "too many envelopes",
			plant: func(t *testing.T, ws *workspace.Workspace) string {
				for i := range maxWorkspaceFiles + 1 {
					plant(t, ws, fmt.Sprintf("e%05d%s", i, workspace.SuffixEnvelope), 0)
				}
				return ws.Dir()
			},
		},
		{
			name: "envelopes with and without bundles",
			plant: func(t *testing.T, ws *workspace.Workspace) string {
				plant(t, ws, "a"+workspace.SuffixEnvelope, 10)
				plant(t, ws, "a"+workspace.SuffixBundle, 10)
				plant(t, ws, "b"+workspace.SuffixEnvelope, 10)
				return ""
			},
			want: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ws := openWorkspace(t)
			path := tt.plant(t, ws)
			atts, err := NewWorkspace(ws).Get(context.Background(), storeSubject{})
			if path == "" {
				if err != nil || len(atts) != tt.want {
					t.Fatalf("got %d envelopes, %v; want %d", len(atts), err, tt.want)
				}
				if atts[0].Bundle == nil || atts[1].Bundle != nil {
					t.Errorf("bundles: %q, %q; want the first only", atts[0].Bundle, atts[1].Bundle)
				}
				return
			}
			if !errors.Is(err, fault.ErrInvalidInput) || !strings.Contains(fmt.Sprint(err), path) {
				t.Fatalf("want an error matching fault.ErrInvalidInput that names %s, got %v", path, err)
			}
		})
	}
}
