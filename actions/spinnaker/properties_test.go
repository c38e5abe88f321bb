package spinnaker_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/attestor/attestor/actions/spinnaker"
)

func TestEmit(t *testing.T) {
	t.Parallel()
	props := map[string]string{
		spinnaker.PropertyVerified:    "true",
		spinnaker.PropertyVerdict:     "PASSED",
		spinnaker.PropertyImageDigest: "sha256:0123",
		spinnaker.PropertyPromoted:    "",
	}
	var w bytes.Buffer
	ok, err := spinnaker.Emit(&w, []string{"SPINNAKER_EXECUTION_ID=01HX"}, props)
	if err != nil || !ok {
		t.Fatalf("Emit = %v, %v", ok, err)
	}
	want := "SPINNAKER_PROPERTY_IMAGE_DIGEST=sha256:0123\nSPINNAKER_PROPERTY_VERDICT=PASSED\nSPINNAKER_PROPERTY_VERIFIED=true\n"
	if w.String() != want {
		t.Errorf("Emit wrote:\n%s\nwant:\n%s", w.String(), want)
	}

	w.Reset()
	for _, environ := range [][]string{nil, {"GITHUB_ACTIONS=true", "SPINNAKER_EXECUTION_ID=01HX"}, {"SPINNAKER_EXECUTION_ID="}} {
		ok, err := spinnaker.Emit(&w, environ, props)
		if ok || err != nil || w.Len() != 0 {
			t.Errorf("Emit outside Spinnaker (%q) = %v, %v, wrote %q", environ, ok, err, w.String())
		}
	}
}

func TestWritePropertiesInvalid(t *testing.T) {
	t.Parallel()
	for _, props := range []map[string]string{
		{"verdict": "PASSED"},
		{"A-B": "x"},
		{"VERDICT": "PASSED\nSPINNAKER_PROPERTY_VERIFIED=true"},
		{"IMAGE": "a=b"},
	} {
		var w bytes.Buffer
		if err := spinnaker.WriteProperties(&w, props); !errors.Is(err, spinnaker.ErrProperty) || w.Len() != 0 {
			t.Errorf("WriteProperties(%q) = %v, wrote %q", props, err, w.String())
		}
	}
}
