package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/safefile"

	"github.com/spf13/pflag"

	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/sign/kms"
)

func jsonEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc
}

// hasKey reports whether a signing key is given: --key (ref), ATTESTOR_KEY,
// or a key the action holds in memory.
func (g *globals) hasKey(ref string) bool {
	return ref != "" || os.Getenv("ATTESTOR_KEY") != "" || g.keyPEM != nil
}

// loadSigner loads the signing key named by --key (ref), or else the PEM
// key the action holds in memory, or else the one ATTESTOR_KEY names: a key file, or a KMS URI (hashivault://, gcpkms://,
// awskms://, azurekms://), which loads through attestor/sign/kms with ctx
// for its requests.
func (g *globals) loadSigner(ctx context.Context, ref string) (envelope.Signer, error) {
	if ref == "" && g.keyPEM != nil {
		s, err := sign.LoadPEM(g.keyPEM, sign.WithPassword(g.password))
		if err != nil {
			return nil, err
		}
		debug.FreeOSMemory() // scrypt's garbage: see below
		return s, nil
	}
	if ref == "" {
		ref = os.Getenv("ATTESTOR_KEY")
	}
	if ref == "" {
		return nil, fault.Invalid(errNoKey)
	}
	if kms.IsURI(ref) {
		return kms.Load(ctx, ref, kms.WithVault("", g.getenv("VAULT_TOKEN"), ""))
	}
	s, err := sign.Load(ref, sign.WithPassword(g.password))
	if err != nil {
		return nil, err
	}
	// Decrypting a cosign key runs scrypt, which allocates 32 MiB that are
	// garbage once the key is out. Collect them now: otherwise the heap
	// goal stays at twice that for the rest of the command (a whole step's
	// hashing and signing).
	debug.FreeOSMemory()
	return s, nil
}

// maxIdentityTokenFile bounds the file --identity-token may name (a JWT is
// a few KiB).
const maxIdentityTokenFile = 64 << 10

// signerFlags are the flags that choose between a key (--key) and keyless
// signing (--keyless and its servers).
type signerFlags struct {
	keyless       bool
	identityToken string
	fulcioURL     string
	rekorURL      string
	tsaURL        string
	trustedRoot   string
}

func (f *signerFlags) add(fs *pflag.FlagSet) {
	fs.BoolVar(&f.keyless, "keyless", false, "sign keyless: an ephemeral key certified by Fulcio for the CI's OIDC identity, recorded in Rekor (writes a sigstore bundle next to each envelope)")
	fs.StringVar(&f.identityToken, "identity-token", "", "OIDC identity token for --keyless, or a file holding it (default: detected from GitHub Actions, GitLab SIGSTORE_ID_TOKEN or the GCP metadata server)")
	fs.StringVar(&f.fulcioURL, "fulcio-url", sign.DefaultFulcioURL, "Fulcio instance for --keyless")
	fs.StringVar(&f.rekorURL, "rekor-url", sign.DefaultRekorURL, "Rekor instance for --keyless (\"\" for none: then --timestamp-server-url is required)")
	fs.StringVar(&f.tsaURL, "timestamp-server-url", "", "RFC 3161 timestamp authority for --keyless (e.g. https://timestamp.sigstore.dev/api/v1/timestamp)")
	fs.StringVar(&f.trustedRoot, "trusted-root", "", "sigstore trusted_root.json: with --keyless, check each bundle against it before writing it")
}

// signer returns the keyless signer the flags describe, or the signer of
// key (see globals.loadSigner).
func (f *signerFlags) signer(ctx context.Context, g *globals, key string) (envelope.Signer, error) {
	if !f.keyless {
		return g.loadSigner(ctx, key)
	}
	if key != "" {
		return nil, fault.Invalid(errors.New("--key and --keyless: choose one"))
	}
	opts := []sign.KeylessOption{
		sign.WithFulcioURL(f.fulcioURL),
		sign.WithRekorURL(f.rekorURL),
		sign.WithKeylessLogger(g.logger),
		sign.WithTokenOptions(sign.WithMask(githubMask(g)), sign.WithLookupEnv(g.lookupEnv)),
	}
	if f.tsaURL != "" {
		opts = append(opts, sign.WithTSAURL(f.tsaURL))
	}
	if f.trustedRoot != "" {
		tr, err := sign.LoadTrustedRoot(f.trustedRoot)
		if err != nil {
			return nil, err
		}
		opts = append(opts, sign.WithTrustedMaterial(tr))
	}
	if f.identityToken != "" {
		tok := f.identityToken
		if data, err := safefile.Read(tok, maxIdentityTokenFile); err == nil {
			tok = strings.TrimSpace(string(data))
		} else if errors.Is(err, fault.ErrInvalidInput) {
			return nil, fault.Invalid(fmt.Errorf("--identity-token: %w", err))
		} else if strings.Count(tok, ".") != 2 {
			return nil, fault.Invalid(errors.New("--identity-token: neither a JWT nor a readable file"))
		} else if !g.argsInMemory {
			// A process's command line is readable by every process on
			// the machine (ps), the command a step wraps included: with
			// the token it could get a certificate and sign as the step.
			g.logger.Warn("--identity-token on the command line is visible to every process on this machine: pass a file, or SIGSTORE_ID_TOKEN")
		}
		opts = append(opts, sign.WithTokenSource(sign.StaticToken(tok)))
	}
	return sign.NewKeyless(ctx, opts...)
}

// githubMask returns the mask function of identity tokens: in GitHub
// Actions, the ::add-mask:: workflow command, so that the runner hides the
// token should anything print it; elsewhere nothing.
func githubMask(g *globals) func(string) {
	if os.Getenv("GITHUB_ACTIONS") != "true" {
		return nil
	}
	return func(secret string) {
		fmt.Fprintf(g.stderr, "::add-mask::%s\n", secret)
	}
}
