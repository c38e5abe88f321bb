package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/gate"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/workspace"
)

// inspected is the part of inspect's --json output the tests read.
type inspected struct {
	Subject      gate.SubjectRef     `json:"subject"`
	Sources      []gate.SourceResult `json:"sources"`
	Attestations []struct {
		Digest        string            `json:"digest"`
		Locations     []store.Location  `json:"locations"`
		PredicateType string            `json:"predicateType"`
		Step          string            `json:"step"`
		KeyIDs        []string          `json:"keyIds"`
		SubjectCount  int               `json:"subjectCount"`
		Subjects      []string          `json:"subjects"`
		Time          time.Time         `json:"time"`
		Size          int               `json:"size"`
		Key           *gate.KeyCheck    `json:"key"`
		Policy        *gate.PolicyCheck `json:"policy"`
	} `json:"attestations"`
	Files []string `json:"files"`
}

func decodeInspect(t *testing.T, r result) inspected {
	t.Helper()
	var out inspected
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, r)
	}
	return out
}

// TestInspectE2E: the attestations of an image pushed to Debian's
// docker-registry (.att image and referrers) and to the open-source
// Grafeas server are listed once each, with the four places each copy is
// (a second Grafeas occurrence of one envelope included); --key and
// --policy check the signatures; --output-dir writes the envelopes; a
// source that fails exits 3 with what the others hold; an image with
// nothing attached is listed as such, exit 0.
func TestInspectE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no end-to-end inspect")
	}
	t.Parallel()
	host := startRegistry(t)
	grafeasURL := startGrafeas(t)
	const project = "acme-ci"

	p, policy := gateProject(t)
	image := host + "/acme/app:v1"
	for _, ref := range []string{image, host + "/acme/bare:v1"} {
		img, err := random.Image(256, 1)
		if err != nil {
			t.Fatal(err)
		}
		tag, err := name.NewTag(ref)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(tag, img); err != nil {
			t.Fatal(err)
		}
	}
	if r := cli(t, "push", "--dir", p.ws, "--image", image, "--to", "oci,grafeas", "--grafeas", grafeasURL, "--grafeas-project", project); r.code != 0 {
		t.Fatalf("push:\n%s", r)
	}
	// One envelope in a second occurrence, as a second writer (or a
	// pusher without attestor's lookup) makes it: still one row.
	duplicateOccurrence(t, grafeasURL, project)

	grafeasFlags := []string{"--grafeas", grafeasURL, "--grafeas-project", project}
	inspect := func(extra ...string) result {
		t.Helper()
		args := append([]string{"inspect", "--dir", t.TempDir(), "--image", image, "--from", "oci,grafeas"}, grafeasFlags...)
		return cli(t, append(args, extra...)...)
	}

	r := inspect("--json")
	if r.code != 0 {
		t.Fatalf("inspect:\n%s", r)
	}
	out := decodeInspect(t, r)
	// The workspace holds two step records (build, package); the push
	// wrote each to the .att image, a referrer and an occurrence.
	if len(out.Attestations) != 2 {
		t.Fatalf("%d rows, want 2 (one per attestation):\n%s", len(out.Attestations), r.stdout)
	}
	wantKeyID := p.keyID(t)
	dups := 0
	for i, a := range out.Attestations {
		var kinds []string
		for _, l := range a.Locations {
			kinds = append(kinds, l.Source+"/"+l.Kind)
			switch l.Kind {
			case store.LocationCosign:
				if !strings.HasPrefix(l.Ref, host+"/acme/app:sha256-") || !strings.Contains(l.Ref, ".att@sha256:") {
					t.Errorf("cosign location %q", l.Ref)
				}
			case store.LocationReferrer:
				if !strings.HasPrefix(l.Ref, host+"/acme/app@sha256:") {
					t.Errorf("referrer location %q", l.Ref)
				}
			case store.LocationOccurrence:
				if !strings.HasPrefix(l.Ref, "projects/"+project+"/occurrences/") {
					t.Errorf("occurrence location %q", l.Ref)
				}
			}
		}
		want := []string{"oci/cosign-att", "oci/referrer", "grafeas/occurrence"}
		if len(kinds) == 4 {
			dups++
			want = append(want, "grafeas/occurrence")
		}
		if !slices.Equal(kinds, want) {
			t.Errorf("row %d (%s) found in %q, want %q", i, a.Step, kinds, want)
		}
		if a.PredicateType != envelope.PredicateTypeLink || !slices.Equal(a.KeyIDs, []string{wantKeyID}) || a.SubjectCount != 1 || a.Time.IsZero() || a.Size == 0 || a.Key != nil || a.Policy != nil {
			t.Errorf("row %d: %+v", i, a)
		}
	}
	if dups != 1 {
		t.Errorf("%d rows name two occurrences, want 1", dups)
	}
	if steps := []string{out.Attestations[0].Step, out.Attestations[1].Step}; !slices.Equal(steps, []string{"build", "package"}) {
		t.Errorf("rows by time: steps %q, want build, package", steps)
	}
	if out.Sources[0].Attestations != 4 || out.Sources[1].Attestations != 3 {
		t.Errorf("sources: %+v, want 4 copies in oci, 3 in grafeas", out.Sources)
	}

	// The table: one row per attestation, naming every place.
	r = inspect()
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("inspect (table):\n%s", r)
	}
	t.Logf("inspect (table):\n%s", r.stderr)
	assertContains(t, "stderr", r.stderr, ": 2 attestation(s)", "FOUND IN", "oci .att, oci referrer, grafeas", "grafeas ×2", "build", "package", "link/v0.3")

	// --key: the CI key verifies both; another key neither.
	pub := filepath.Join(t.TempDir(), "ci.pub")
	otherPub := filepath.Join(t.TempDir(), "other.pub")
	for path, key := range map[string]string{pub: p.key, otherPub: writeKeyFile(t, "ecdsa")} {
		s, err := sign.Load(key)
		if err != nil {
			t.Fatal(err)
		}
		data, err := sign.MarshalPublicKey(s.Public())
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, path, string(data))
	}
	for key, want := range map[string]bool{pub: true, otherPub: false} {
		out := decodeInspect(t, inspect("--json", "--key", key))
		for _, a := range out.Attestations {
			if a.Key == nil || a.Key.Verified != want {
				t.Errorf("--key %s: %s: %+v, want verified %v", filepath.Base(key), a.Step, a.Key, want)
			}
		}
	}
	r = inspect("--key", pub)
	assertContains(t, "stderr", r.stderr, "KEY "+wantKeyID[:8], "verified")

	// --policy: the functionary whose key verified each.
	out = decodeInspect(t, inspect("--json", "--policy", policy))
	for _, a := range out.Attestations {
		if a.Policy == nil || a.Policy.Status != gate.StatusVerified || !slices.Equal(a.Policy.Functionaries, []string{"ci (" + wantKeyID[:12] + ")"}) {
			t.Errorf("--policy: %s: %+v", a.Step, a.Policy)
		}
	}
	if r := inspect("--key", pub, "--policy", policy); r.code != 2 {
		t.Errorf("--key and --policy: exit %d, want 2\n%s", r.code, r)
	}

	// --output-dir: each envelope, named by its digest, as the workspace
	// holds it.
	dir := filepath.Join(t.TempDir(), "out")
	out = decodeInspect(t, inspect("--json", "--output-dir", dir))
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The referrers hold a sigstore bundle of each: written beside it.
	if len(entries) != 4 || len(out.Files) != 4 {
		t.Fatalf("--output-dir: %d files, %q listed", len(entries), out.Files)
	}
	for _, a := range out.Attestations {
		if b, err := os.ReadFile(filepath.Join(dir, a.Digest+sign.BundleExt)); err != nil {
			t.Error(err)
		} else if _, err := sign.ParseBundle(b); err != nil {
			t.Errorf("--output-dir: %s's bundle: %v", a.Step, err)
		}
		data, err := os.ReadFile(filepath.Join(dir, a.Digest+workspace.SuffixEnvelope))
		if err != nil {
			t.Fatal(err)
		}
		ws, err := os.ReadFile(filepath.Join(p.ws, a.Step+"."+wantKeyID[:8]+workspace.SuffixEnvelope))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, ws) {
			t.Errorf("--output-dir: %s differs from the workspace's envelope", a.Step)
		}
	}

	// A source that fails: exit 3, the registry's attestations listed.
	r = cli(t, "inspect", "--dir", t.TempDir(), "--image", image, "--from", "oci,grafeas", "--grafeas", "http://127.0.0.1:1", "--grafeas-project", project, "--json")
	if r.code != 3 {
		t.Fatalf("inspect with Grafeas down: exit %d, want 3\n%s", r.code, r)
	}
	if out := decodeInspect(t, r); len(out.Attestations) != 2 || out.Sources[1].Error == "" {
		t.Errorf("inspect with Grafeas down: %+v", out)
	}
	assertContains(t, "stderr", r.stderr, "source grafeas: FAILED")

	// Nothing attached: listed as nothing, exit 0.
	r = cli(t, "inspect", "--dir", t.TempDir(), "--image", host+"/acme/bare:v1")
	if r.code != 0 {
		t.Fatalf("inspect of a bare image: exit %d\n%s", r.code, r)
	}
	assertContains(t, "stderr", r.stderr, "no attestations found")
}

// duplicateOccurrence posts a copy of the first occurrence that carries
// an envelope.
func duplicateOccurrence(t *testing.T, url, project string) {
	t.Helper()
	resp, err := http.Get(url + "/v1beta1/projects/" + project + "/occurrences")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Occurrences []map[string]any `json:"occurrences"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	for _, occ := range list.Occurrences {
		if _, ok := occ["envelope"].(map[string]any); !ok {
			continue
		}
		for _, k := range []string{"name", "createTime", "updateTime"} {
			delete(occ, k)
		}
		body, _ := json.Marshal(occ)
		resp, err := http.Post(url+"/v1beta1/projects/"+project+"/occurrences", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("posting a duplicate occurrence: %s\n%s", resp.Status, msg)
		}
		return
	}
	t.Fatal("no occurrence with an envelope")
}

// writeKeyFile writes a new private key of keyType and returns its path.
func writeKeyFile(t *testing.T, keyType string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.pem")
	writeKey(t, path, keyType)
	return path
}

// TestInspectHostile: a workspace envelope whose statement names its
// step, subjects and predicate type with terminal escape sequences,
// bidirectional overrides and newlines is listed with all of them
// escaped; --output-dir names files by digest only, and refuses a digest
// that is not hex.
func TestInspectHostile(t *testing.T) {
	t.Parallel()
	p, _ := gateProject(t)
	evil := "\x1b]0;pwned\a\x1b[2J\u202eevil\nstep\t../../x"
	st, _ := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"predicateType": envelope.PredicateTypeLink,
		"subject":       []map[string]any{{"name": evil, "digest": map[string]string{"sha256": strings.Repeat("0", 64)}}},
		"predicate":     map[string]any{"name": evil, "environment": map[string]any{"finishedOn": "2026-01-02T03:04:05Z"}},
	})
	env, _ := json.Marshal(map[string]any{
		"payloadType": envelope.PayloadTypeInToto,
		"payload":     base64.StdEncoding.EncodeToString(st),
		"signatures":  []map[string]string{{"keyid": evil, "sig": base64.StdEncoding.EncodeToString([]byte("x"))}},
	})
	writeFile(t, filepath.Join(p.ws, "evil.dsse.json"), string(env))
	outDir := filepath.Join(t.TempDir(), "out")
	r := cli(t, "inspect", "--dir", p.ws, "--artifact", p.path("app.tar"), "--output-dir", outDir)
	if r.code != 0 {
		t.Fatalf("inspect:\n%s", r)
	}
	for _, bad := range []string{"\x1b", "\a", "\u202e", "\t", "evil\nstep"} {
		if strings.Contains(r.stderr, bad) {
			t.Errorf("the table holds %q:\n%s", bad, r.stderr)
		}
	}
	assertContains(t, "stderr", r.stderr, `\x1b]0;pwned\x07\x1b[2J\u202eevil\x0astep\x09..`)
	entries, err := os.ReadDir(outDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Errorf("--output-dir holds %d files, want 3", len(entries))
	}
	for _, e := range entries {
		if base := strings.TrimSuffix(e.Name(), workspace.SuffixEnvelope); len(base) != 64 || !isHex(base) {
			t.Errorf("--output-dir file %q is not named by a digest", e.Name())
		}
	}

	inv := &gate.Inventory{Attestations: []gate.InventoryEntry{{Digest: "../../escaped"}}}
	dir := t.TempDir()
	if _, err := writeInventory(filepath.Join(dir, "out"), inv); err == nil {
		t.Error("writeInventory of a digest that is not hex: no error")
	}
	if _, err := os.Stat(filepath.Join(dir, "escaped"+workspace.SuffixEnvelope)); err == nil {
		t.Error("writeInventory wrote outside its directory")
	}
}

// TestPrintable: control and format characters and invalid UTF-8 are
// escaped, printable text (any script) is kept, and the length bounded.
func TestPrintable(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"plain/path-1.2_x":      "plain/path-1.2_x",
		"é 中文 🙂":                "é 中文 🙂",
		"\x1b[31m":              `\x1b[31m`,
		"a\tb\nc\rd\x00\x7f":    `a\x09b\x0ac\x0dd\x00\x7f`,
		"c1 \u009b bidi \u202e": `c1 \x9b bidi \u202e`,
		"bad \xff\xfe":          `bad \xff\xfe`,
		`back\slash`:            `back\x5cslash`,
		"line\u2028sep":         `line\u2028sep`,
	} {
		if got := printable(in, 100); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
	if got := printable(strings.Repeat("a", 10), 4); got != "aaaa…" {
		t.Errorf("printable bounded: %q", got)
	}
}

// TestInspectPolicyColumnNotVerified: envelopes a functionary's key
// signed but that verify does not use, because they are not in-toto
// statements (ignored) or are step records it refuses (an invalid step
// name: invalid, the gate fails on it), show their status in the POLICY
// column, never the functionary's name, which reads as "verified by ci".
func TestInspectPolicyColumnNotVerified(t *testing.T) {
	t.Parallel()
	p, policy := gateProject(t)
	s, err := sign.Load(p.key)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	write := func(name string, env any) {
		t.Helper()
		data, err := json.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(p.ws, name), string(data))
	}
	plain, err := envelope.Sign(ctx, s, "text/plain", []byte("not a statement"))
	if err != nil {
		t.Fatal(err)
	}
	write("plain.dsse.json", plain)
	sum := p.keyID(t) // any hex will do as a digest
	st, _ := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"predicateType": envelope.PredicateTypeLink,
		"subject":       []map[string]any{{"name": "app.tar", "digest": map[string]string{"sha256": sum}}},
		"predicate":     map[string]any{"name": "../build", "environment": map[string]any{"finishedOn": "2026-01-02T03:04:05Z"}},
	})
	bad, err := envelope.Sign(ctx, s, envelope.PayloadTypeInToto, st)
	if err != nil {
		t.Fatal(err)
	}
	write("badstep.dsse.json", bad)

	r := cli(t, "inspect", "--dir", p.ws, "--artifact", p.path("app.tar"), "--policy", policy, "--json")
	if r.code != 0 {
		t.Fatalf("inspect:\n%s", r)
	}
	out := decodeInspect(t, r)
	statuses := map[string]int{}
	for _, a := range out.Attestations {
		if a.Policy == nil {
			t.Fatalf("row %s without a policy check", a.Digest)
		}
		statuses[a.Policy.Status]++
	}
	if statuses[gate.StatusVerified] != 2 || statuses[gate.StatusIgnored] != 1 || statuses[gate.StatusInvalid] != 1 {
		t.Fatalf("statuses %v, want 2 verified, 1 ignored, 1 invalid:\n%s", statuses, r)
	}
	verifiedCells := 0
	for line := range strings.Lines(r.stderr) {
		if strings.HasPrefix(line, "  sha256:") && strings.HasSuffix(strings.TrimSpace(line), ")") && strings.Contains(line, " ci (") {
			verifiedCells++
		}
	}
	if verifiedCells != 2 {
		t.Errorf("%d rows name the functionary ci in the POLICY column, want 2 (the records verify uses):\n%s", verifiedCells, r.stderr)
	}
	for _, want := range []string{"ignored", "invalid"} {
		assertContains(t, "stderr", r.stderr, "  "+want+"\n")
	}
}
