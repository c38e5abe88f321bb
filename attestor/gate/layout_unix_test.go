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
	"github.com/attestor/attestor/attestor/workspace"

	"github.com/in-toto/in-toto-golang/in_toto"

	"github.com/attestor/attestor/attestor/sign"
)

// TestVerifyLayoutPlanted: what anything in the build can plant where
// VerifyLayout reads (the layout path, the link directory) never blocks
// it and never runs a command: a FIFO layout is a policy error, a FIFO
// link bad input, and a sublayout signed by a step's functionary (whose
// inspections the reference verifier would run) a failure, its
// inspection not run. A regression fails on the context's deadline
// instead of hanging.
func TestVerifyLayoutPlanted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		plant func(c *chain, layoutPath, marker string) string // returns the FIFO, if one
		want  []error
		says  string
	}{
		{
			name: "FIFO layout",
			plant: func(c *chain, layoutPath, _ string) string {
				os.Remove(layoutPath)
				return layoutPath
			},
			want: []error{ErrPolicy, fault.ErrInvalidInput},
			says: "FIFO",
		},
		{
			name: "FIFO link",
			plant: func(c *chain, _, _ string) string {
				return c.ws.Path("build.0badf1f0.link")
			},
			want: []error{fault.ErrInvalidInput},
			says: "FIFO",
		},
		{
			name: "sublayout with an inspection",
			plant: func(c *chain, _, marker string) string {
				ci := c.key("ci")
				kid, _ := ci.KeyID()
				sub := in_toto.Layout{Type: "layout", Expires: time.Now().Add(24 * time.Hour).UTC().Format(in_toto.ISO8601DateSchema),
					Keys: map[string]in_toto.Key{}, Steps: []in_toto.Step{},
					Inspect: []in_toto.Inspection{{Type: "inspection", Run: []string{"touch", marker},
						SupplyChainItem: in_toto.SupplyChainItem{Name: "pwn", ExpectedMaterials: [][]string{}, ExpectedProducts: [][]string{}}}}}
				writeSignedLayout(c.t.(*testing.T), sub, ci, c.ws.Path(workspace.LinkName("build", kid)))
				return ""
			},
			want: []error{ErrLayout, ErrVerification},
			says: "sublayout",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newChain(t)
			layoutKey, ci := c.key("layout"), c.key("ci")
			k := ci.InTotoKey()
			layout := in_toto.Layout{Type: "layout", Expires: time.Now().Add(24 * time.Hour).UTC().Format(in_toto.ISO8601DateSchema),
				Keys: map[string]in_toto.Key{k.KeyID: k}, Inspect: []in_toto.Inspection{},
				Steps: []in_toto.Step{{Type: "step", PubKeys: []string{k.KeyID}, ExpectedCommand: []string{}, Threshold: 1,
					SupplyChainItem: in_toto.SupplyChainItem{Name: "build", ExpectedMaterials: [][]string{}, ExpectedProducts: [][]string{}}}}}
			layoutPath := filepath.Join(c.keys, "root.layout")
			writeSignedLayout(t, layout, layoutKey, layoutPath)
			marker := filepath.Join(t.TempDir(), "inspection-ran")
			if fifo := tt.plant(c, layoutPath, marker); fifo != "" {
				if err := syscall.Mkfifo(fifo, 0o644); err != nil {
					t.Fatal(err)
				}
				// Should a regression block in open(2), opening the FIFO
				// for reading and writing (which never blocks) releases it.
				t.Cleanup(func() {
					if f, err := os.OpenFile(fifo, os.O_RDWR, 0); err == nil {
						f.Close()
					}
				})
			}

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := VerifyLayout(ctx, layoutPath, []*sign.Verifier{layoutKey.Verifier()}, c.ws.Dir(), WithClock(clock))
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-ctx.Done():
				t.Fatal("VerifyLayout blocked on a FIFO")
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("want %v, got %v", w, err)
				}
			}
			if err != nil && !strings.Contains(err.Error(), tt.says) {
				t.Errorf("the error does not say %q: %v", tt.says, err)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Errorf("the sublayout's inspection ran a command")
			}
		})
	}
}
