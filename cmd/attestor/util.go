package main

import (
	"encoding/json"
	"io"
	"os"

	"github.com/attestor/attestor/attestor"
	"github.com/attestor/attestor/attestor/sign"
)

func jsonEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc
}

// loadSigner loads the signing key named by --key, or by ATTESTOR_KEY when
// the flag is empty.
func loadSigner(ref string) (attestor.Signer, error) {
	if ref == "" {
		ref = os.Getenv("ATTESTOR_KEY")
	}
	if ref == "" {
		return nil, attestor.Invalid(errNoKey)
	}
	return sign.Load(ref)
}
