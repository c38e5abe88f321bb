package sign_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/hashing"
	"github.com/attestor/attestor/attestor/workspace"

	ita1 "github.com/in-toto/attestation/go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/attestor/attestor/attestor"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/sign/signtest"
)

// testStatement is an in-toto statement to sign.
func testStatement(t testing.TB) *ita1.Statement {
	t.Helper()
	pred, err := structpb.NewStruct(map[string]any{"name": "build"})
	if err != nil {
		t.Fatal(err)
	}
	return &ita1.Statement{
		Type:          ita1.StatementTypeUri,
		Subject:       []*ita1.ResourceDescriptor{{Name: "bin/app", Digest: map[string]string{"sha256": strings.Repeat("ab", 32)}}},
		PredicateType: "https://in-toto.io/attestation/link/v0.3",
		Predicate:     pred,
	}
}

// signKeyless signs a statement with k and returns the envelope's JSON
// and the bundle.
func signKeyless(t *testing.T, k *sign.Keyless) (envJSON, bundle []byte) {
	t.Helper()
	ctx := context.Background()
	env, envJSON, err := envelope.SignStatement(ctx, k, testStatement(t))
	if err != nil {
		t.Fatalf("SignStatement: %v", err)
	}
	bundle, err = k.Bundle(ctx, env)
	if err != nil {
		t.Fatalf("Bundle: %v", err)
	}
	return envJSON, bundle
}

func TestKeylessSignVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := signtest.NewSigstore(t)
	f.FailTokenRequests(1) // the token endpoint is retried
	trusted, _ := f.TrustedRoot(t)
	k := f.Keyless(t, sign.WithTrustedMaterial(trusted), sign.WithTokenOptions(sign.WithTokenRetries(3, time.Millisecond)))
	envJSON, bundle := signKeyless(t, k)

	if n := f.TokenRequests(); n != 2 {
		t.Errorf("%d token requests, want 2 (one 503, one retry)", n)
	}
	if n := f.RekorRequests(); n != 1 {
		t.Errorf("%d Rekor requests, want 1", n)
	}

	payload, err := sign.VerifyBundle(ctx, bundle, trusted, signtest.GitHubIdentity())
	if err != nil {
		t.Fatalf("VerifyBundle: %v", err)
	}
	var env struct{ Payload []byte }
	if err := json.Unmarshal(envJSON, &env); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(payload, env.Payload) {
		t.Errorf("VerifyBundle returned another payload than the envelope's")
	}
	// The bundle's envelope is the envelope file's, and a v0.3 bundle.
	be, err := sign.BundleEnvelope(bundle)
	if err != nil || be.Payload == "" || len(be.Signatures) != 1 {
		t.Fatalf("BundleEnvelope = %+v, %v", be, err)
	}
	var mt struct{ MediaType string }
	json.Unmarshal(bundle, &mt)
	if mt.MediaType != sign.BundleMediaType {
		t.Errorf("mediaType = %q", mt.MediaType)
	}

	res, err := sign.VerifyBundleResult(ctx, bundle, trusted, signtest.GitHubIdentity())
	if err != nil {
		t.Fatalf("VerifyBundleResult: %v", err)
	}
	c := res.Certificate
	if c.SubjectAlternativeName != signtest.GitHubSubject || c.Issuer != signtest.GitHubIssuer ||
		c.GithubWorkflowRepository != signtest.GitHubRepository || !bytes.Equal(res.Payload, payload) {
		t.Errorf("VerifyBundleResult = %+v", res)
	}
	if len(res.Timestamps) != 1 || res.Timestamps[0].Type != "Tlog" {
		t.Errorf("timestamps = %+v; want Rekor's", res.Timestamps)
	}
	if _, err := json.Marshal(res); err != nil {
		t.Errorf("the result does not encode as JSON: %v", err)
	}

	// Regexps and partial identities.
	for _, id := range []sign.Identity{
		{Issuer: signtest.GitHubIssuer, SubjectRegexp: `^https://github\.com/acme/app/\.github/workflows/release\.yml@refs/heads/`},
		{IssuerRegexp: `^https://token\.actions\.githubusercontent\.com$`, Subject: signtest.GitHubSubject, Repository: signtest.GitHubRepository},
	} {
		if _, err := sign.VerifyBundle(ctx, bundle, trusted, id); err != nil {
			t.Errorf("VerifyBundle(%+v): %v", id, err)
		}
	}
}

func TestKeylessVerifyRejects(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	vs := signtest.NewSigstore(t)
	trusted, _ := vs.TrustedRoot(t)
	_, bundle := signKeyless(t, vs.Keyless(t))

	// Same Rekor, another Fulcio CA.
	other := vs.WithAnotherCA(t)
	_, otherBundle := signKeyless(t, other.Keyless(t))

	withID := func(change func(*sign.Identity)) sign.Identity {
		id := signtest.GitHubIdentity()
		change(&id)
		return id
	}
	noTlog := stripTlog(t, bundle)
	tampered := tamperPayload(t, bundle)

	for _, c := range []struct {
		name   string
		bundle []byte
		id     sign.Identity
		want   error
	}{
		{"wrong issuer", bundle, withID(func(id *sign.Identity) { id.Issuer = "https://gitlab.com" }), sign.ErrIdentityMismatch},
		{"wrong repository", bundle, withID(func(id *sign.Identity) { id.Repository = "evil/app" }), sign.ErrIdentityMismatch},
		{"wrong ref", bundle, withID(func(id *sign.Identity) { id.Ref = "refs/tags/v1" }), sign.ErrIdentityMismatch},
		{"wrong workflow", bundle, withID(func(id *sign.Identity) { id.Workflow = "ci" }), sign.ErrIdentityMismatch},
		{"wrong trigger", bundle, withID(func(id *sign.Identity) { id.Trigger = "pull_request_target" }), sign.ErrIdentityMismatch},
		{"wrong subject", bundle, withID(func(id *sign.Identity) {
			id.Subject = "https://github.com/acme/app/.github/workflows/other.yml@refs/heads/main"
		}), sign.ErrIdentityMismatch},
		{"certificate from another root", otherBundle, signtest.GitHubIdentity(), sign.ErrNoValidSignature},
		{"missing log entry", noTlog, signtest.GitHubIdentity(), sign.ErrNoValidSignature},
		{"tampered payload", tampered, signtest.GitHubIdentity(), sign.ErrNoValidSignature},
		{"not a bundle", []byte(`{"payloadType": "x"}`), signtest.GitHubIdentity(), sign.ErrMalformedBundle},
		{"no identity", bundle, sign.Identity{}, fault.ErrInvalidInput},
		{"no subject", bundle, sign.Identity{Issuer: signtest.GitHubIssuer, Repository: signtest.GitHubRepository}, fault.ErrInvalidInput},
	} {
		t.Run(c.name, func(t *testing.T) {
			payload, err := sign.VerifyBundle(ctx, c.bundle, trusted, c.id)
			t.Log(err)
			if !errors.Is(err, c.want) || payload != nil {
				t.Errorf("VerifyBundle = %d bytes, %v; want %v", len(payload), err, c.want)
			}
		})
	}
	// The other bundle verifies with its own root: the rejection above is
	// the root's doing.
	otherTrusted, _ := other.TrustedRoot(t)
	if _, err := sign.VerifyBundle(ctx, otherBundle, otherTrusted, signtest.GitHubIdentity()); err != nil {
		t.Errorf("VerifyBundle(other, its root): %v", err)
	}
	// Without a log entry, a bundle passes only when the log is waived,
	// and then it needs a timestamp, which it does not have.
	if _, err := sign.VerifyBundle(ctx, noTlog, trusted, signtest.GitHubIdentity(), sign.WithoutTransparencyLogUnsafe()); !errors.Is(err, sign.ErrNoValidSignature) {
		t.Errorf("VerifyBundle(no tlog, WithoutTransparencyLogUnsafe) = %v; want ErrNoValidSignature", err)
	}
}

// stripTlog removes the transparency log entries of a bundle.
func stripTlog(t *testing.T, bundle []byte) []byte {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	vm := b["verificationMaterial"].(map[string]any)
	if _, ok := vm["tlogEntries"]; !ok {
		t.Fatal("the bundle has no tlogEntries")
	}
	delete(vm, "tlogEntries")
	out, _ := json.Marshal(b)
	return out
}

// tamperPayload changes the payload of a bundle's envelope.
func tamperPayload(t *testing.T, bundle []byte) []byte {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	env := b["dsseEnvelope"].(map[string]any)
	st := testStatement(t)
	st.Subject[0].Name = "bin/evil"
	data, err := envelope.MarshalStatement(st)
	if err != nil {
		t.Fatal(err)
	}
	env["payload"] = data
	out, _ := json.Marshal(b)
	return out
}

func TestKeylessTokenNeverShown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := signtest.NewSigstore(t)
	var logs, masked bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	k := f.Keyless(t,
		sign.WithKeylessLogger(logger),
		sign.WithTokenOptions(sign.WithMask(func(s string) { masked.WriteString(s + "\n") })))

	// A whole step recorded with the keyless signer.
	dir := t.TempDir()
	ws, err := workspace.Open(filepath.Join(dir, ".attestor"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "app"), []byte("binary"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec, err := attestor.NewRecorder(ws, k, attestor.WithLogger(logger),
		attestor.WithHashOptions(hashing.WithBaseDir(dir)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := rec.Run(ctx, attestor.Step{Name: "build", Products: []string{"app"}, Command: []string{"true"}})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	keyID, _ := k.KeyID()
	wantBundle := filepath.Join(dir, ".attestor", workspace.BundleName("build", keyID))
	if len(res.Files) != 2 || res.Files[1] != wantBundle {
		t.Fatalf("files = %q; want the envelope and %s", res.Files, wantBundle)
	}
	trusted, _ := f.TrustedRoot(t)
	bundle, err := os.ReadFile(wantBundle)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sign.VerifyBundle(ctx, bundle, trusted, signtest.GitHubIdentity()); err != nil {
		t.Errorf("VerifyBundle(recorded bundle): %v", err)
	}

	// Fulcio that echoes the credentials in its error.
	f.EchoCredentials(true)
	k2 := f.Keyless(t, sign.WithKeylessLogger(logger))
	_, signErr := k2.Sign(ctx, []byte("msg"))
	if !errors.Is(signErr, fault.ErrUnavailable) {
		t.Errorf("Sign with a Fulcio that rejects = %v; want ErrUnavailable", signErr)
	}

	tokens := f.Issued()
	if len(tokens) < 2 {
		t.Fatalf("%d tokens issued", len(tokens))
	}
	if got := masked.String(); !strings.Contains(got, tokens[0]) {
		t.Errorf("the mask function was not given the token")
	}
	var outputs []byte
	for _, p := range res.Files {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		outputs = append(outputs, data...)
	}
	shown := map[string][]byte{
		"logs":        logs.Bytes(),
		"error":       []byte(signErr.Error() + fmtV(signErr)),
		"files":       outputs,
		"signer":      []byte(k.String() + fmtV(k)),
		"tokensrc":    []byte(fmtV(sign.StaticToken(tokens[0]))),
		"attestation": []byte(envelopeOf(t, res).Payload),
	}
	for _, secret := range append(tokens, signtest.GitHubRequestToken) {
		for what, b := range shown {
			if bytes.Contains(b, []byte(secret)) || bytes.Contains(b, []byte(secret[len(secret)/2:])) {
				t.Errorf("a token is in the %s", what)
			}
		}
	}
}

func TestDetectTokenSource(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := signtest.NewSigstore(t)

	t.Run("github", func(t *testing.T) {
		ts, err := sign.DetectTokenSource(ctx, signtest.Lookup(f.Env()))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := ts.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.VerifyJWT(tok); err != nil {
			t.Errorf("token: %v", err)
		}
	})
	t.Run("gitlab", func(t *testing.T) {
		ts, err := sign.DetectTokenSource(ctx, signtest.Lookup(map[string]string{sign.EnvSigstoreIDToken: "a.b.c"}))
		if err != nil {
			t.Fatal(err)
		}
		if tok, err := ts.Token(ctx); tok != "a.b.c" || err != nil {
			t.Errorf("Token = %q, %v", tok, err)
		}
	})
	t.Run("gcp metadata", func(t *testing.T) {
		// The metadata server, with the path and header it requires.
		md := metadataServer(t, f)
		ts, err := sign.DetectTokenSource(ctx, signtest.Lookup(map[string]string{sign.EnvMetadataHost: strings.TrimPrefix(md, "http://")}))
		if err != nil {
			t.Fatal(err)
		}
		if tok, err := ts.Token(ctx); err != nil || strings.Count(tok, ".") != 2 {
			t.Errorf("Token = %q, %v", tok, err)
		}
	})
	t.Run("github without id-token permission", func(t *testing.T) {
		_, err := sign.DetectTokenSource(ctx, signtest.Lookup(map[string]string{sign.EnvGitHubTokenURL: f.TokenURL}))
		if !errors.Is(err, sign.ErrNoIdentityToken) || !errors.Is(err, fault.ErrInvalidInput) {
			t.Errorf("err = %v; want ErrNoIdentityToken", err)
		}
	})
	t.Run("github unavailable", func(t *testing.T) {
		env := f.Env()
		env[sign.EnvGitHubRequestToken] = "wrong-request-token"
		ts, err := sign.DetectTokenSource(ctx, signtest.Lookup(env), sign.WithTokenRetries(1, 0))
		if err != nil {
			t.Fatal(err)
		}
		_, err = ts.Token(ctx)
		if !errors.Is(err, fault.ErrUnavailable) || strings.Contains(err.Error(), "wrong-request-token") {
			t.Errorf("err = %v; want ErrUnavailable without the request token", err)
		}
	})
}

// metadataServer starts a GCP metadata server that issues the fake's
// tokens and returns its URL.
func metadataServer(t *testing.T, f *signtest.Sigstore) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata-Flavor") != "Google" ||
			r.URL.Path != "/computeMetadata/v1/instance/service-accounts/default/identity" ||
			r.URL.Query().Get("audience") != "sigstore" {
			w.WriteHeader(400)
			return
		}
		w.Write([]byte(f.JWT(map[string]any{"iss": "https://accounts.google.com", "sub": "123", "aud": "sigstore", "email": "builder@p.iam.gserviceaccount.com"})))
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// fmtV formats v in every verb that might show a secret.
func fmtV(v any) string { return fmt.Sprintf("%v %+v %#v %s", v, v, v, v) }

func TestStaticTokenHidden(t *testing.T) {
	t.Parallel()
	tok := sign.StaticToken("header.payload.signature")
	for _, s := range []string{tok.String(), fmtV(tok)} {
		if strings.Contains(s, "payload") {
			t.Errorf("StaticToken prints as %q", s)
		}
	}
	if _, err := sign.StaticToken("").Token(context.Background()); !errors.Is(err, sign.ErrNoIdentityToken) {
		t.Errorf("empty StaticToken: %v", err)
	}
}

// TestKeylessTimestamp: with a timestamp authority, bundles carry an RFC
// 3161 timestamp; without Rekor, they verify only when the log is waived.
func TestKeylessTimestamp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := signtest.NewSigstore(t)
	trusted, _ := f.TrustedRoot(t)

	t.Run("rekor and tsa", func(t *testing.T) {
		_, bundle := signKeyless(t, f.Keyless(t, sign.WithTSAURL(f.TSAURL), sign.WithTrustedMaterial(trusted)))
		if _, err := sign.VerifyBundle(ctx, bundle, trusted, signtest.GitHubIdentity(), sign.WithSignedTimestamps(1)); err != nil {
			t.Errorf("VerifyBundle(WithSignedTimestamps(1)): %v", err)
		}
		if _, err := sign.VerifyBundle(ctx, bundle, trusted, signtest.GitHubIdentity(), sign.WithSignedTimestamps(2)); !errors.Is(err, sign.ErrNoValidSignature) {
			t.Errorf("VerifyBundle(WithSignedTimestamps(2)) = %v; want ErrNoValidSignature", err)
		}
	})
	t.Run("tsa only", func(t *testing.T) {
		rekorBefore := f.RekorRequests()
		_, bundle := signKeyless(t, f.Keyless(t, sign.WithRekorURL(""), sign.WithTSAURL(f.TSAURL), sign.WithTrustedMaterial(trusted)))
		if f.RekorRequests() != rekorBefore {
			t.Error("Rekor was asked with WithRekorURL(\"\")")
		}
		if _, err := sign.VerifyBundle(ctx, bundle, trusted, signtest.GitHubIdentity()); !errors.Is(err, sign.ErrNoValidSignature) {
			t.Errorf("VerifyBundle(no log entry) = %v; want ErrNoValidSignature", err)
		}
		if _, err := sign.VerifyBundle(ctx, bundle, trusted, signtest.GitHubIdentity(), sign.WithoutTransparencyLogUnsafe()); err != nil {
			t.Errorf("VerifyBundle(WithoutTransparencyLogUnsafe): %v", err)
		}
	})
	t.Run("neither", func(t *testing.T) {
		_, err := sign.NewKeyless(ctx, sign.WithRekorURL(""), sign.WithTokenSource(sign.StaticToken("a.b.c")))
		if !errors.Is(err, fault.ErrInvalidInput) {
			t.Errorf("NewKeyless(no Rekor, no TSA) = %v; want ErrInvalidInput", err)
		}
	})
}

// envelopeOf returns the envelope a Recorder wrote.
func envelopeOf(t *testing.T, res *attestor.Result) *dsse.Envelope {
	t.Helper()
	env, err := res.Envelope()
	if err != nil || env == nil {
		t.Fatalf("Result.Envelope() = %v, %v", env, err)
	}
	return env
}
