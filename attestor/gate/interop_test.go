package gate

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/in-toto/in-toto-golang/in_toto"
	"github.com/secure-systems-lab/go-securesystemslib/cjson"

	"github.com/attestor/attestor/attestor"
	"github.com/attestor/attestor/attestor/hashing"
	"github.com/attestor/attestor/attestor/sign"
)

// ruleStep is one step of an artifact-rule case: what it consumed and
// made (name → content), and its rules.
type ruleStep struct {
	name                string
	materials, products map[string]string
	expMat, expProd     [][]string
}

// ruleCases are artifact-rule cases run through the gate and through the
// in-toto reference verifier (in-toto-verify); both must give the verdict
// pass.
var ruleCases = []struct {
	name  string
	steps []ruleStep
	pass  bool
}{
	{"no rules", []ruleStep{{name: "a", materials: f("x", "1"), products: f("y", "1")}}, true},
	{"create", []ruleStep{{name: "a", products: f("x", "1"), expProd: r("CREATE x", "DISALLOW *")}}, true},
	{"create of an existing file", []ruleStep{{name: "a", materials: f("x", "1"), products: f("x", "1"), expProd: r("CREATE x", "DISALLOW *")}}, false},
	{"modify", []ruleStep{{name: "a", materials: f("x", "1"), products: f("x", "2"), expProd: r("MODIFY x", "DISALLOW *")}}, true},
	{"modify of an unchanged file", []ruleStep{{name: "a", materials: f("x", "1"), products: f("x", "1"), expProd: r("MODIFY x", "DISALLOW *")}}, false},
	{"delete", []ruleStep{{name: "a", materials: f("x", "1", "y", "1"), products: f("y", "1"), expMat: r("DELETE x", "ALLOW y", "DISALLOW *")}}, true},
	{"delete of a kept file", []ruleStep{{name: "a", materials: f("x", "1"), products: f("x", "1"), expMat: r("DELETE x", "DISALLOW *")}}, false},
	{"allow then disallow", []ruleStep{{name: "a", products: f("x", "1", "d/y", "2"), expProd: r("ALLOW *", "DISALLOW *")}}, true},
	{"disallow a pattern", []ruleStep{{name: "a", products: f("app", "1", "secret.key", "2"), expProd: r("DISALLOW *.key")}}, false},
	{"star crosses slashes", []ruleStep{{name: "a", products: f("src/deep/x.c", "1"), expProd: r("ALLOW *.c", "DISALLOW *")}}, true},
	{"question mark and class", []ruleStep{{name: "a", products: f("file1.c", "1", "file2.h", "2"), expProd: r("ALLOW file?.[ch]", "DISALLOW *")}}, true},
	{"question mark is one character", []ruleStep{{name: "a", products: f("file10.c", "1"), expProd: r("ALLOW file?.[ch]", "DISALLOW *")}}, false},
	{"negated class", []ruleStep{{name: "a", products: f("a", "1", "xb", "2"), expProd: r("ALLOW [!x]*", "DISALLOW *")}}, false},
	{"lower-case keywords", []ruleStep{{name: "a", products: f("x", "1"), expProd: r("allow x", "disallow *")}}, true},
	{"require present", []ruleStep{{name: "a", products: f("x", "1"), expProd: r("REQUIRE x")}}, true},
	{"require absent", []ruleStep{{name: "a", products: f("y", "1"), expProd: r("REQUIRE x")}}, false},
	{"require after consumption", []ruleStep{{name: "a", products: f("x", "1"), expProd: r("ALLOW x", "REQUIRE x")}}, false},
	{"match across steps", []ruleStep{
		{name: "a", products: f("src/x", "1", "src/y", "2")},
		{name: "b", materials: f("src/x", "1", "src/y", "2"), products: f("out", "3"), expMat: r("MATCH src/* WITH PRODUCTS FROM a", "DISALLOW *")},
	}, true},
	{"artifact altered between steps", []ruleStep{
		{name: "a", products: f("src/x", "1", "src/y", "2")},
		{name: "b", materials: f("src/x", "1", "src/y", "evil"), products: f("out", "3"), expMat: r("MATCH src/* WITH PRODUCTS FROM a", "DISALLOW *")},
	}, false},
	{"artifact added between steps", []ruleStep{
		{name: "a", products: f("src/x", "1")},
		{name: "b", materials: f("src/x", "1", "src/z", "9"), products: f("out", "3"), expMat: r("MATCH src/* WITH PRODUCTS FROM a", "DISALLOW *")},
	}, false},
	{"match a literal", []ruleStep{
		{name: "a", products: f("bin/app", "1")},
		{name: "b", materials: f("bin/app", "1"), products: f("app.tar", "2"), expMat: r("MATCH bin/app WITH PRODUCTS FROM a", "DISALLOW *")},
	}, true},
	{"match with materials", []ruleStep{
		{name: "a", materials: f("in", "1"), products: f("out", "2")},
		{name: "b", materials: f("in", "1"), products: f("out2", "3"), expMat: r("MATCH in WITH MATERIALS FROM a", "DISALLOW *")},
	}, true},
	{"match with prefixes", []ruleStep{
		{name: "a", products: f("build/x", "1", "build/sub/y", "2")},
		{name: "b", materials: f("dist/x", "1", "dist/sub/y", "2"), products: f("out", "3"), expMat: r("MATCH * IN dist WITH PRODUCTS IN build FROM a", "DISALLOW *")},
	}, true},
	{"match with a prefix the artifact lacks", []ruleStep{
		{name: "a", products: f("build/x", "1")},
		{name: "b", materials: f("x", "1"), products: f("out", "3"), expMat: r("MATCH * IN dist WITH PRODUCTS IN build FROM a", "DISALLOW *")},
	}, false},
	{"match then create and disallow", []ruleStep{
		{name: "a", products: f("src/main.c", "1")},
		{name: "b", materials: f("src/main.c", "1"), products: f("src/main.c", "1", "app", "2"), expMat: r("MATCH * WITH PRODUCTS FROM a", "DISALLOW *"), expProd: r("MATCH src/* WITH PRODUCTS FROM a", "CREATE app", "DISALLOW *")},
	}, true},
	{"three steps, product changed in the last", []ruleStep{
		{name: "a", products: f("src/main.c", "1")},
		{name: "b", materials: f("src/main.c", "1"), products: f("app", "2"), expMat: r("MATCH * WITH PRODUCTS FROM a", "DISALLOW *")},
		{name: "c", materials: f("app", "changed"), products: f("app.tar", "3"), expMat: r("MATCH app WITH PRODUCTS FROM b", "DISALLOW *"), expProd: r("CREATE app.tar", "DISALLOW *")},
	}, false},
}

// f makes a name → content map of pairs.
func f(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// r makes rules of space-separated words.
func r(rules ...string) [][]string {
	var out [][]string
	for _, rule := range rules {
		out = append(out, splitWords(rule))
	}
	return out
}

func splitWords(s string) []string {
	var words []string
	for _, w := range bytes.Fields([]byte(s)) {
		words = append(words, string(w))
	}
	return words
}

// TestArtifactRulesInterop runs every rule case through the gate and, when
// it is installed, through in-toto-verify (Debian in-toto): both must
// give the expected verdict.
func TestArtifactRulesInterop(t *testing.T) {
	t.Parallel()
	tool := lookTool(t, "in-toto-verify")
	for _, tc := range ruleCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newChain(t)
			layoutKey := c.key("layout")
			ci := c.key("ci")
			var last map[string]string
			for _, s := range tc.steps {
				c.recordBoth(ci, s)
				last = s.products
			}
			// The gate.
			pol := map[string]any{"version": 1, "expires": "2027-12-31T00:00:00Z", "functionaries": map[string]any{"ci": map[string]string{"key": "ci.pub"}}}
			var steps []map[string]any
			for _, s := range tc.steps {
				steps = append(steps, map[string]any{"name": s.name, "functionaries": []string{"ci"}, "materials": nonNilRules(s.expMat), "products": nonNilRules(s.expProd)})
			}
			pol["steps"] = steps
			doc, _ := json.Marshal(pol)
			p := c.policy(string(doc))
			var finalName string
			for n := range last {
				finalName = n
			}
			res, err := c.verify(p, c.subjectOf(finalName, last[finalName]))
			if got := err == nil; got != tc.pass {
				t.Errorf("gate: pass=%v, want %v: %v", got, tc.pass, err)
			}
			if err != nil && !errors.Is(err, ErrArtifactRule) {
				t.Errorf("gate failed for another reason than the rules: %v\n%s", err, dump(res))
			}
			if tool == "" {
				return
			}
			// The reference.
			layout := in_toto.Layout{
				Type:    "layout",
				Expires: time.Now().Add(24 * time.Hour).UTC().Format(in_toto.ISO8601DateSchema),
				Keys:    map[string]in_toto.Key{},
				Inspect: []in_toto.Inspection{},
			}
			k := ci.InTotoKey()
			layout.Keys[k.KeyID] = k
			for _, s := range tc.steps {
				layout.Steps = append(layout.Steps, in_toto.Step{
					Type: "step", PubKeys: []string{k.KeyID}, ExpectedCommand: []string{}, Threshold: 1,
					SupplyChainItem: in_toto.SupplyChainItem{Name: s.name, ExpectedMaterials: nonNilRules(s.expMat), ExpectedProducts: nonNilRules(s.expProd)},
				})
			}
			writeSignedLayout(t, layout, layoutKey, filepath.Join(c.keys, "root.layout"))
			lk := layoutKey.InTotoKey()
			pub, _ := json.Marshal(map[string]any{"keytype": lk.KeyType, "scheme": lk.Scheme, "keyid_hash_algorithms": lk.KeyIDHashAlgorithms, "keyval": map[string]string{"public": lk.KeyVal.Public}})
			if err := os.WriteFile(filepath.Join(c.keys, "layout.pub"), pub, 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(tool, "--verbose", "--layout", filepath.Join(c.keys, "root.layout"), "--layout-keys", filepath.Join(c.keys, "layout.pub"), "--key-types", "ed25519", "--link-dir", c.ws.Dir())
			cmd.Dir = c.base
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "LC_ALL=C.UTF-8"}
			out, err := cmd.CombinedOutput()
			var exitErr *exec.ExitError
			if err != nil && !errors.As(err, &exitErr) {
				t.Fatalf("running in-toto-verify: %v", err)
			}
			code := cmd.ProcessState.ExitCode()
			if (code == 0) != tc.pass || (code != 0 && code != 1) {
				t.Errorf("in-toto-verify: exit %d, want pass=%v:\n%s", code, tc.pass, out)
			}
		})
	}
}

func nonNilRules(r [][]string) [][]string {
	if r == nil {
		return [][]string{}
	}
	return r
}

func (c *chain) subjectOf(name, content string) storeSubject {
	c.write(map[string]string{"_subject/" + name: content})
	return c.subject("_subject/" + name)
}

// recordBoth records a rule step (DSSE and legacy link): the tree holds
// exactly its materials at the start and its products at the stop.
func (c *chain) recordBoth(s *sign.Signer, step ruleStep) {
	c.t.Helper()
	ctx := context.Background()
	rec, err := attestor.NewRecorder(c.ws, s, attestor.WithFormat(attestor.FormatBoth),
		attestor.WithHashOptions(hashing.WithBaseDir(c.base)), attestor.WithClock(func() time.Time { return now.Add(-time.Hour) }))
	if err != nil {
		c.t.Fatal(err)
	}
	c.reset(step.materials)
	if err := rec.Start(ctx, attestor.Step{Name: step.name, Materials: sortedNames(step.materials)}); err != nil {
		c.t.Fatal(err)
	}
	c.reset(step.products)
	if _, err := rec.Stop(ctx, attestor.Step{Name: step.name, Products: sortedNames(step.products)}); err != nil {
		c.t.Fatal(err)
	}
}

// reset makes the tree hold exactly files (the workspace aside).
func (c *chain) reset(files map[string]string) {
	c.t.Helper()
	entries, err := os.ReadDir(c.base)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != ".attestor" {
			if err := os.RemoveAll(filepath.Join(c.base, e.Name())); err != nil {
				c.t.Fatal(err)
			}
		}
	}
	c.write(files)
}

func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// writeSignedLayout signs the canonical JSON of layout, as in-toto signs
// metadata, and writes the signed layout to path.
func writeSignedLayout(t testing.TB, layout in_toto.Layout, key *sign.Signer, path string) {
	t.Helper()
	canonical, err := cjson.EncodeCanonical(layout)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := key.SignLegacy(context.Background(), canonical)
	if err != nil {
		t.Fatal(err)
	}
	keyID, _ := key.KeyID()
	mb := in_toto.Metablock{Signed: layout, Signatures: []in_toto.Signature{{KeyID: keyID, Sig: hex.EncodeToString(sig)}}}
	data, err := json.MarshalIndent(mb, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// lookTool returns the path of an external tool, or "" when it is missing
// (then only the gate's half of a test runs), unless
// ATTESTOR_REQUIRE_TOOLS=1, where a missing tool fails the test.
func lookTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := filepath.Join(build.Default.GOPATH, "bin", name); fileExists(p) {
		return p
	}
	if os.Getenv("ATTESTOR_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s is not installed (ATTESTOR_REQUIRE_TOOLS=1); run .ci/setup", name)
	}
	t.Logf("%s is not installed: checking the gate only (set ATTESTOR_REQUIRE_TOOLS=1 to fail instead)", name)
	return ""
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
