package oci_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/oci"
)

func ExampleAttestationTag() {
	d, err := name.NewDigest("registry.example/team/app@sha256:" + strings.Repeat("ab", 32))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(oci.AttestationTag(d).TagStr())
	// Output: sha256-abababababababababababababababababababababababababababababababab.att
}

// ExampleRegistry_Get reads the attestations of an image; an image with
// none has none, and that is not an error.
func ExampleRegistry_Get() {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ref, _ := name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/team/app:v1")
	img, _ := random.Image(64, 1)
	if err := remote.Write(ref, img); err != nil {
		log.Fatal(err)
	}

	reg, err := oci.New()
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	d, err := oci.Resolve(ctx, ref.String(), reg.RemoteOptions(ctx)...)
	if err != nil {
		log.Fatal(err)
	}
	subject, err := store.ImageSubject(d)
	if err != nil {
		log.Fatal(err)
	}
	atts, err := reg.Get(ctx, subject)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(atts), "attestations")
	// Output: 0 attestations
}
