package gate

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/fault"

	"github.com/in-toto/in-toto-golang/in_toto"

	"github.com/attestor/attestor/attestor/sign"
)

// TestVerifyLayout verifies legacy links against classic layouts, valid
// and not; a malformed layout is bad input, never a panic or a pass.
func TestVerifyLayout(t *testing.T) {
	t.Parallel()
	steps := []ruleStep{
		{name: "build", materials: f("src/main.c", "1"), products: f("app", "2"), expMat: r("ALLOW src/*", "DISALLOW *"), expProd: r("CREATE app", "DISALLOW *")},
		{name: "package", materials: f("app", "2"), products: f("app.tar", "3"), expMat: r("MATCH app WITH PRODUCTS FROM build", "DISALLOW *"), expProd: r("CREATE app.tar", "DISALLOW *")},
	}
	tampered := []ruleStep{steps[0], {name: "package", materials: f("app", "evil"), products: f("app.tar", "3"), expMat: steps[1].expMat, expProd: steps[1].expProd}}
	tests := []struct {
		name    string
		steps   []ruleStep
		edit    func(l *in_toto.Layout)
		wrong   bool // sign the layout with another key
		want    error
		invalid bool
	}{
		{name: "valid", steps: steps},
		{name: "artifact altered between steps", steps: tampered, want: ErrLayout},
		{name: "missing link", steps: steps[:1], want: ErrLayout},
		{name: "layout signed by another key", steps: steps, wrong: true, want: ErrUntrustedSigner},
		{name: "expired layout", steps: steps, edit: func(l *in_toto.Layout) { l.Expires = now.Add(-time.Hour).Format(in_toto.ISO8601DateSchema) }, want: ErrPolicyExpired},
		{name: "threshold 0", steps: steps, edit: func(l *in_toto.Layout) { l.Steps[0].Threshold = 0 }, invalid: true},
		{name: "threshold above the keys", steps: steps, edit: func(l *in_toto.Layout) { l.Steps[0].Threshold = 2 }, invalid: true},
		{name: "no steps", steps: steps, edit: func(l *in_toto.Layout) { l.Steps = nil }, invalid: true},
		{name: "unknown key", steps: steps, edit: func(l *in_toto.Layout) { l.Steps[0].PubKeys = []string{"abcdef0123"} }, invalid: true},
		{name: "no keys", steps: steps, edit: func(l *in_toto.Layout) { l.Steps[0].PubKeys = nil }, invalid: true},
		{name: "inspection", steps: steps, edit: func(l *in_toto.Layout) {
			l.Inspect = []in_toto.Inspection{{Type: "inspection", Run: []string{"rm", "-rf", "/"}, SupplyChainItem: in_toto.SupplyChainItem{Name: "evil"}}}
		}, invalid: true},
		{name: "bad rule", steps: steps, edit: func(l *in_toto.Layout) { l.Steps[0].ExpectedMaterials = [][]string{{"PERMIT", "*"}} }, invalid: true},
		{name: "bad expiry", steps: steps, edit: func(l *in_toto.Layout) { l.Expires = "tomorrow" }, invalid: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newChain(t)
			layoutKey, ci := c.key("layout"), c.key("ci")
			for _, s := range tt.steps {
				c.recordBoth(ci, s)
			}
			k := ci.InTotoKey()
			layout := in_toto.Layout{Type: "layout", Expires: time.Now().Add(24 * time.Hour).UTC().Format(in_toto.ISO8601DateSchema), Keys: map[string]in_toto.Key{k.KeyID: k}, Inspect: []in_toto.Inspection{}}
			for _, s := range steps {
				layout.Steps = append(layout.Steps, in_toto.Step{Type: "step", PubKeys: []string{k.KeyID}, ExpectedCommand: []string{}, Threshold: 1,
					SupplyChainItem: in_toto.SupplyChainItem{Name: s.name, ExpectedMaterials: nonNilRules(s.expMat), ExpectedProducts: nonNilRules(s.expProd)}})
			}
			if tt.edit != nil {
				tt.edit(&layout)
			}
			signer := layoutKey
			if tt.wrong {
				signer = c.key("mallory")
			}
			path := filepath.Join(c.keys, "root.layout")
			writeSignedLayout(t, layout, signer, path)
			res, err := VerifyLayout(context.Background(), path, []*sign.Verifier{layoutKey.Verifier()}, c.ws.Dir(), WithClock(clock))
			switch {
			case tt.invalid:
				if !errors.Is(err, ErrPolicy) || !errors.Is(err, fault.ErrInvalidInput) || res != nil {
					t.Fatalf("want a policy error, got %v", err)
				}
			case tt.want == nil:
				if err != nil || !res.Verified {
					t.Fatalf("want a pass, got %v", err)
				}
			default:
				if !errors.Is(err, tt.want) || !errors.Is(err, ErrVerification) || res == nil || res.Verified || res.Verdict != Failed {
					t.Fatalf("want %v, got %v", tt.want, err)
				}
			}
		})
	}
}
