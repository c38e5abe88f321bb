package grafeas_test

import (
	"context"
	"fmt"
	"log"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/grafeas"
	"github.com/attestor/attestor/attestor/store/local"
	"github.com/attestor/attestor/attestor/workspace"
)

// Push the workspace's attestations to an open-source Grafeas server, then
// read them back.
func Example() {
	ctx := context.Background()
	c, err := grafeas.New(
		grafeas.WithURL("http://127.0.0.1:8080"),
		grafeas.WithProject("builds"),
		grafeas.WithNoteProject("attestor"),
	)
	if err != nil {
		log.Fatal(err)
	}
	ref, err := name.NewDigest("registry.example/team/app@sha256:" + fmt.Sprintf("%064x", 1))
	if err != nil {
		log.Fatal(err)
	}
	subject, err := store.ImageSubject(ref)
	if err != nil {
		log.Fatal(err)
	}
	ws, err := workspace.Open(".attestor")
	if err != nil {
		log.Fatal(err)
	}
	atts, _, err := local.ReadWorkspace(ws)
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Put(ctx, subject, atts...); err != nil {
		log.Fatal(err) // errors.Is(err, fault.ErrUnavailable): the server kept failing
	}
	got, err := c.Get(ctx, subject)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(got), "attestations on", store.ResourceURI(subject))
}

// Container Analysis (the v1 API) with application default credentials.
func ExampleNew_containerAnalysis() {
	c, err := grafeas.New(
		grafeas.WithAPI(grafeas.V1),
		grafeas.WithProject("my-gcp-project"),
		grafeas.WithApplicationDefaultCredentials(),
	)
	if err != nil {
		log.Fatal(err)
	}
	_ = c
}
