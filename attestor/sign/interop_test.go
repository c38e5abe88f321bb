package sign_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/in-toto/in-toto-golang/in_toto"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/secure-systems-lab/go-securesystemslib/signerverifier"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/sign"
)

// inTotoFixtures are the key fixtures in-toto-golang can read, with the
// in-toto key (private part included) it loads from each.
func inTotoFixtures(t *testing.T) map[string]in_toto.Key {
	t.Helper()
	keys := map[string]in_toto.Key{}
	for _, f := range keyFixtures() {
		if strings.HasPrefix(f.file, "cosign") || f.file == "ecdsa-p256-sec1.key" {
			continue
		}
		var k in_toto.Key
		if err := k.LoadKey(testdata(f.file), f.scheme, []string{"sha256", "sha512"}); err != nil {
			t.Fatalf("in-toto-golang: loading %s: %v", f.file, err)
		}
		keys[f.file] = k
	}
	return keys
}

// testLink returns an in-toto v0.9 link as in-toto-golang models it.
func testLink() in_toto.Metablock {
	return in_toto.Metablock{Signed: in_toto.Link{
		Type:        "link",
		Name:        "build",
		Materials:   map[string]in_toto.HashObj{"main.go": {"sha256": strings.Repeat("ab", 32)}},
		Products:    map[string]in_toto.HashObj{"bin/app": {"sha256": strings.Repeat("cd", 32)}},
		ByProducts:  map[string]any{"return-value": 0, "stdout": "", "stderr": ""},
		Command:     []string{"go", "build", "./..."},
		Environment: map[string]any{},
	}}
}

// TestLegacyInteropInTotoGolang signs links with SignLegacy and verifies
// them with in-toto-golang, and the other way round.
func TestLegacyInteropInTotoGolang(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for file, itKey := range inTotoFixtures(t) {
		f := keyFixture{file: file}
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			s := loadSigner(t, f)
			id, _ := s.KeyID()
			if id != itKey.KeyID {
				t.Fatalf("KeyID() = %s; in-toto-golang says %s", id, itKey.KeyID)
			}

			// attestor signs, in-toto-golang verifies with the public key.
			mb := testLink()
			msg, err := mb.GetSignableRepresentation()
			if err != nil {
				t.Fatal(err)
			}
			sig, err := s.SignLegacy(ctx, msg)
			if err != nil {
				t.Fatal(err)
			}
			mb.Signatures = []in_toto.Signature{{KeyID: id, Sig: hex.EncodeToString(sig)}}
			if err := mb.VerifySignature(s.InTotoKey()); err != nil {
				t.Errorf("in-toto-golang rejects our link signature: %v", err)
			}

			// in-toto-golang signs, attestor verifies.
			mb = testLink()
			if err := mb.Sign(itKey); err != nil {
				t.Fatal(err)
			}
			sig, err = hex.DecodeString(mb.Signatures[0].Sig)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Verifier().VerifyLegacy(ctx, msg, sig); err != nil {
				t.Errorf("VerifyLegacy rejects in-toto-golang's link signature: %v", err)
			}
		})
	}
}

// sslibKey converts an in-toto key as in-toto-golang does for its DSSE
// signers.
func sslibKey(k in_toto.Key) *signerverifier.SSLibKey {
	return &signerverifier.SSLibKey{
		KeyType:             k.KeyType,
		KeyIDHashAlgorithms: k.KeyIDHashAlgorithms,
		KeyID:               k.KeyID,
		Scheme:              k.Scheme,
		KeyVal:              signerverifier.KeyVal{Public: k.KeyVal.Public, Private: k.KeyVal.Private},
	}
}

func sslibSignerVerifier(t *testing.T, k in_toto.Key) dsse.SignerVerifier {
	t.Helper()
	var (
		sv  dsse.SignerVerifier
		err error
	)
	switch k.KeyType {
	case "ed25519":
		sv, err = signerverifier.NewED25519SignerVerifierFromSSLibKey(sslibKey(k))
	case "ecdsa":
		sv, err = signerverifier.NewECDSASignerVerifierFromSSLibKey(sslibKey(k))
	case "rsa":
		sv, err = signerverifier.NewRSAPSSSignerVerifierFromSSLibKey(sslibKey(k))
	}
	if err != nil {
		t.Fatal(err)
	}
	return sv
}

// TestDSSEInteropInTotoGolang checks envelopes against go-securesystemslib's
// DSSE signers and verifiers, which in-toto-golang uses. Those sign RSA
// envelopes with PSS, which VerifyEnvelope accepts; ours are PKCS #1 v1.5
// (cosign's choice), which they do not, so that direction is not checked
// for RSA.
func TestDSSEInteropInTotoGolang(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for file, itKey := range inTotoFixtures(t) {
		f := keyFixture{file: file}
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			s := loadSigner(t, f)
			sv := sslibSignerVerifier(t, itKey)

			if itKey.KeyType != "rsa" {
				env, err := envelope.Sign(ctx, s, envelope.PayloadTypeInToto, []byte(statement))
				if err != nil {
					t.Fatal(err)
				}
				ev, err := dsse.NewEnvelopeVerifier(sv)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := ev.Verify(ctx, env); err != nil {
					t.Errorf("go-securesystemslib rejects our envelope: %v", err)
				}
			}

			es, err := dsse.NewEnvelopeSigner(sv)
			if err != nil {
				t.Fatal(err)
			}
			env, err := es.SignPayload(ctx, envelope.PayloadTypeInToto, []byte(statement))
			if err != nil {
				t.Fatal(err)
			}
			if _, accepted, err := sign.VerifyEnvelope(ctx, env, s.Verifier()); err != nil || !slices.Equal(accepted, []string{itKey.KeyID}) {
				t.Errorf("VerifyEnvelope(go-securesystemslib's envelope) = %q, %v", accepted, err)
			}
		})
	}
}

// cosignEnv returns the environment for running cosign in a test: a
// private HOME, and a proxy on loopback that refuses connections, so that
// cosign's attempts to reach the public Sigstore TUF repository fail fast
// instead of leaving the machine.
func cosignEnv(home string) []string {
	return []string{
		"HOME=" + home,
		"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY=",
		"https_proxy=http://127.0.0.1:9", "http_proxy=http://127.0.0.1:9", "no_proxy=",
		"COSIGN_PASSWORD=" + testPassword,
	}
}

// TestCosignInterop checks keys, blob signatures and DSSE envelopes both
// ways against the cosign CLI. It needs cosign on PATH.
func TestCosignInterop(t *testing.T) {
	t.Parallel()
	cosign := requireTool(t, "cosign")
	ctx := context.Background()
	dir := t.TempDir()
	env := cosignEnv(dir)

	priv, pub, err := sign.GenerateKeyPair([]byte(testPassword))
	if err != nil {
		t.Fatal(err)
	}
	genKey := writeFile(t, dir, "gen.key", priv)
	genPub := writeFile(t, dir, "gen.pub", pub)
	blob := writeFile(t, dir, "blob", []byte("hello, attestor\n"))
	blobData, _ := os.ReadFile(blob)

	type pair struct{ name, key, pub, digestAlg string }
	pairs := []pair{
		{"generated", genKey, genPub, "sha256"},
		{"rsa", testdata("cosign-rsa.key"), testdata("cosign-rsa.pub"), "sha256"},
		{"p384", testdata("ecdsa-p384.key"), testdata("ecdsa-p384.pub"), "sha384"},
	}
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			s, err := sign.Load(p.key, password(testPassword))
			if err != nil {
				t.Fatal(err)
			}
			v, err := sign.LoadVerifier(p.pub)
			if err != nil {
				t.Fatal(err)
			}
			cosignKey := p.key
			if !strings.HasPrefix(p.name, "generated") && !strings.Contains(p.key, "cosign") {
				// cosign signs only with its own encrypted keys: import it.
				prefix := filepath.Join(dir, p.name+"-imported")
				run(t, env, cosign, "import-key-pair", "--key", p.key, "--output-key-prefix", prefix, "-y")
				cosignKey = prefix + ".key"
			}

			// cosign signs a blob with our key; we verify.
			sigFile := filepath.Join(dir, p.name+".cosign.sig")
			run(t, env, cosign, "sign-blob", "--key", cosignKey, "--tlog-upload=false", "--output-signature", sigFile, "-y", blob)
			sigB64, _ := os.ReadFile(sigFile)
			sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(sigB64)))
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Verify(ctx, blobData, sig); err != nil {
				t.Errorf("Verify(cosign's blob signature) = %v", err)
			}

			// We sign a blob; cosign verifies (cosign signs P-384 with
			// SHA-384 but verifies with SHA-256 unless told otherwise).
			sig, err = s.Sign(ctx, blobData)
			if err != nil {
				t.Fatal(err)
			}
			ourSig := writeFile(t, dir, p.name+".our.sig", []byte(base64.StdEncoding.EncodeToString(sig)))
			run(t, env, cosign, "verify-blob", "--key", p.pub, "--signature", ourSig, "--insecure-ignore-tlog",
				"--signature-digest-algorithm", p.digestAlg, blob)

			// We sign an in-toto statement about the blob; cosign verifies it.
			stmt := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"blob","digest":{"sha256":"` +
				hexSHA256(blobData) + `"}}],"predicateType":"https://example.com/p","predicate":{"a":1}}`
			envlp, err := envelope.Sign(ctx, s, envelope.PayloadTypeInToto, []byte(stmt))
			if err != nil {
				t.Fatal(err)
			}
			envJSON, _ := json.Marshal(envlp)
			envFile := writeFile(t, dir, p.name+".our.intoto.json", envJSON)
			run(t, env, cosign, "verify-blob-attestation", "--key", p.pub, "--signature", envFile, "--type", "https://example.com/p",
				"--insecure-ignore-tlog", "--signature-digest-algorithm", p.digestAlg, blob)

			// cosign attests; we verify its envelope.
			pred := writeFile(t, dir, p.name+".pred.json", []byte(`{"a":1}`))
			cosignEnvFile := filepath.Join(dir, p.name+".cosign.intoto.json")
			run(t, env, cosign, "attest-blob", "--key", cosignKey, "--predicate", pred, "--type", "https://example.com/p",
				"--tlog-upload=false", "--output-signature", cosignEnvFile, "-y", blob)
			data, err := os.ReadFile(cosignEnvFile)
			if err != nil {
				t.Fatal(err)
			}
			var cenv dsse.Envelope
			if err := json.Unmarshal(data, &cenv); err != nil {
				t.Fatal(err)
			}
			payload, _, err := sign.VerifyEnvelope(ctx, &cenv, v)
			if err != nil {
				t.Errorf("VerifyEnvelope(cosign's attestation) = %v", err)
			} else if !strings.Contains(string(payload), hexSHA256(blobData)) {
				t.Errorf("cosign's attestation is about another blob: %s", payload)
			}
		})
	}

	// cosign signs DSSE with Ed25519 keys in the Ed25519ph variant (and
	// cannot verify the result itself); VerifyEnvelope, like DSSE and
	// in-toto, uses pure Ed25519 and rejects it. If this starts to pass,
	// cosign changed: update the Signer documentation.
	t.Run("ed25519ph", func(t *testing.T) {
		pred := writeFile(t, dir, "ed25519.pred.json", []byte(`{"a":1}`))
		out := filepath.Join(dir, "ed25519.cosign.intoto.json")
		run(t, env, cosign, "attest-blob", "--key", testdata("cosign-ed25519.key"), "--predicate", pred, "--type", "https://example.com/p",
			"--tlog-upload=false", "--output-signature", out, "-y", blob)
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var cenv dsse.Envelope
		if err := json.Unmarshal(data, &cenv); err != nil {
			t.Fatal(err)
		}
		if _, _, err := sign.VerifyEnvelope(ctx, &cenv, loadVerifier(t, "cosign-ed25519.pub")); !errors.Is(err, sign.ErrNoValidSignature) {
			t.Errorf("VerifyEnvelope(cosign's Ed25519ph envelope) = %v; want ErrNoValidSignature", err)
		}
	})

	t.Run("cosign generate-key-pair", func(t *testing.T) {
		prefix := filepath.Join(dir, "cosign-generated")
		run(t, env, cosign, "generate-key-pair", "--output-key-prefix", prefix)
		s, err := sign.Load(prefix+".key", password(testPassword))
		if err != nil {
			t.Fatal(err)
		}
		v, err := sign.LoadVerifier(prefix + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		sig, err := s.Sign(ctx, blobData)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Verify(ctx, blobData, sig); err != nil {
			t.Error(err)
		}
	})
}

// TestPythonInterop verifies legacy (link) signatures with Python
// securesystemslib, which in-toto-verify uses. It needs the Debian in-toto
// package (in-toto-verify and its Python).
func TestPythonInterop(t *testing.T) {
	t.Parallel()
	inTotoVerify := requireTool(t, "in-toto-verify")
	python := "python3"
	if head, err := os.ReadFile(inTotoVerify); err == nil && strings.HasPrefix(string(head), "#!") {
		python = strings.Fields(strings.SplitN(string(head[2:]), "\n", 2)[0])[0]
	}
	ctx := context.Background()
	link := testLink()
	msg, err := link.GetSignableRepresentation()
	if err != nil {
		t.Fatal(err)
	}
	type check struct {
		Key  in_toto.Key       `json:"key"`
		Sig  in_toto.Signature `json:"sig"`
		Want bool              `json:"want"`
	}
	var checks []check
	for _, f := range keyFixtures() {
		if f.scheme == "ecdsa-sha2-nistp521" {
			continue // securesystemslib does not support P-521
		}
		s := loadSigner(t, f)
		sig, err := s.SignLegacy(ctx, msg)
		if err != nil {
			t.Fatal(err)
		}
		k := s.InTotoKey()
		checks = append(checks, check{Key: k, Sig: in_toto.Signature{KeyID: k.KeyID, Sig: hex.EncodeToString(sig)}, Want: true})
		sig[len(sig)/2] ^= 1
		checks = append(checks, check{Key: k, Sig: in_toto.Signature{KeyID: k.KeyID, Sig: hex.EncodeToString(sig)}, Want: false})
	}
	input, err := json.Marshal(map[string]any{"msg": string(msg), "checks": checks})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in := writeFile(t, dir, "checks.json", input)
	script := `
import json, sys
from securesystemslib import keys
d = json.load(open(sys.argv[1]))
for c in d["checks"]:
    k = c["key"]
    ok = keys.verify_signature(k, c["sig"], d["msg"].encode())
    print(k["keytype"], k["scheme"], k["keyid"][:8], "ok" if ok == c["want"] else "MISMATCH", ok)
`
	out := run(t, nil, python, "-c", script, in)
	if strings.Contains(out, "MISMATCH") || strings.Count(out, " ok ") != len(checks) {
		t.Errorf("Python securesystemslib disagrees:\n%s", out)
	}
}
