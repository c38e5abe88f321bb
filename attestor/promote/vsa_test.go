package promote

import (
	"context"
	"testing"

	"github.com/attestor/attestor/attestor/internal/testkit"
)

// TestVSAPromoted: the summary that promote attaches to the copy names the
// copy by its https:// resource URI.
func TestVSAPromoted(t *testing.T) {
	t.Parallel()
	host, reg, img, v, release := attestedImage(t)
	p, err := Image(context.Background(), v, img.String(), host+"/prod/app", release, WithRegistry(reg), WithDryRun())
	if err != nil {
		t.Fatal(err)
	}
	_, vsa := testkit.CheckVSA(t, p.Summary)
	if want := "https://" + host + "/prod/app@" + img.DigestStr(); vsa.GetResourceUri() != want {
		t.Errorf("resourceUri %q, want %q", vsa.GetResourceUri(), want)
	}
}
