package attestor_test

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/attestor/attestor/attestor"
)

// networkClients are the packages that talk to the network for us. The
// recording engine and the provenance document must not import them, even
// indirectly: they run in every build step, and the design keeps all
// network I/O in attestor/store, attestor/sign and cmd.
var networkClients = []string{
	"net/http", // and every net/http/... package
	"google.golang.org/grpc",
	"github.com/google/go-containerregistry/pkg/v1/remote",
	"github.com/hashicorp/go-retryablehttp",
}

// isNetworkClient reports whether the import path is one of networkClients
// or a package below one.
func isNetworkClient(path string) bool {
	for _, c := range networkClients {
		if path == c || strings.HasPrefix(path, c+"/") {
			return true
		}
	}
	return false
}

func TestIsNetworkClient(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]bool{
		"net/http":                     true,
		"net/http/httptrace":           true,
		"net/http/internal/ascii":      true,
		"google.golang.org/grpc":       true,
		"google.golang.org/grpc/codes": true,
		"github.com/google/go-containerregistry/pkg/v1/remote":           true,
		"github.com/google/go-containerregistry/pkg/v1/remote/transport": true,
		"github.com/hashicorp/go-retryablehttp":                          true,
		"net":                                                            false,
		"net/url":                                                        false,
		"net/netip":                                                      false,
		"net/httpx":                                                      false,
		"google.golang.org/grpcx":                                        false,
		"google.golang.org/protobuf/encoding/protojson":                  false,
		"github.com/google/go-containerregistry/pkg/v1":                  false,
		"github.com/google/go-containerregistry/pkg/v1/remotex":          false,
	} {
		if got := isNetworkClient(path); got != want {
			t.Errorf("isNetworkClient(%q) = %v, want %v", path, got, want)
		}
	}
}

// goTool returns the go command of the toolchain running the test.
func goTool(t *testing.T) string {
	t.Helper()
	name := "go"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	if goroot := runtime.GOROOT(); goroot != "" { //nolint:staticcheck // the toolchain that built this test
		if p := filepath.Join(goroot, "bin", name); fileExists(p) {
			return p
		}
	}
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	return p
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// hasGoFiles reports whether dir holds a non-test Go file.
func hasGoFiles(t *testing.T, dir string) bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			return true
		}
	}
	return false
}

// TestNoNetworkClient enforces the design rule that attestor and
// provenance import no network client.
func TestNoNetworkClient(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	t.Parallel()
	const module = "github.com/attestor/attestor"
	roots := []string{module + "/attestor"}
	if hasGoFiles(t, filepath.Join("..", "provenance")) {
		roots = append(roots, module+"/provenance")
	} else {
		t.Log("provenance has no Go files yet: not checked")
	}

	args := append([]string{"list", "-deps", "-json=ImportPath,Imports"}, roots...)
	cmd := exec.Command(goTool(t), args...)
	cmd.Dir = ".." // the module root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}

	type pkg struct {
		ImportPath string
		Imports    []string
	}
	imports := map[string][]string{}
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		imports[p.ImportPath] = p.Imports
	}
	for _, root := range roots {
		if _, ok := imports[root]; !ok {
			t.Fatalf("go list did not list %s", root)
		}
		if chain := importChain(imports, root); chain != nil {
			t.Errorf("%s imports the network client %s:\n\t%s", root, chain[len(chain)-1], strings.Join(chain, "\n\t→ "))
		}
	}
}

// importChain returns the shortest import chain from root to a network
// client, or nil if there is none.
func importChain(imports map[string][]string, root string) []string {
	return chainTo(imports, root, isNetworkClient)
}

// chainTo returns the shortest import chain from root to a package that
// match accepts, or nil if there is none.
func chainTo(imports map[string][]string, root string, match func(string) bool) []string {
	parent := map[string]string{root: ""}
	queue := []string{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if match(p) {
			var chain []string
			for ; p != ""; p = parent[p] {
				chain = append([]string{p}, chain...)
			}
			return chain
		}
		for _, q := range imports[p] {
			if _, seen := parent[q]; !seen {
				parent[q] = p
				queue = append(queue, q)
			}
		}
	}
	return nil
}

func TestImportChain(t *testing.T) {
	t.Parallel()
	imports := map[string][]string{
		"a":    {"b", "c"},
		"b":    {"fmt"},
		"c":    {"d", "net/url"},
		"d":    {"net/http/httptrace"},
		"ok":   {"b", "net"},
		"cyc":  {"cyc2"},
		"cyc2": {"cyc"},
	}
	want := []string{"a", "c", "d", "net/http/httptrace"}
	if got := importChain(imports, "a"); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("importChain(a) = %q, want %q", got, want)
	}
	for _, root := range []string{"ok", "cyc"} {
		if got := importChain(imports, root); got != nil {
			t.Errorf("importChain(%s) = %q, want nil", root, got)
		}
	}
}

// goListImports runs go list -deps -json over the patterns (with extra
// flags, such as -test) from the module root and returns each listed
// package's imports by import path.
func goListImports(t *testing.T, extra []string, patterns ...string) map[string][]string {
	t.Helper()
	args := append(append([]string{"list", "-deps", "-json=ImportPath,Imports"}, extra...), patterns...)
	cmd := exec.Command(goTool(t), args...)
	cmd.Dir = ".." // the module root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	imports := map[string][]string{}
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		imports[p.ImportPath] = p.Imports
	}
	return imports
}

// packageOf returns the package a go list -test entry is built from:
// "P [P.test]" → P, "P_test" → P, "P.test" → P.
func packageOf(path string) string {
	path, _, _ = strings.Cut(path, " ")
	path = strings.TrimSuffix(path, ".test")
	return strings.TrimSuffix(path, "_test")
}

// within reports whether path (a go list -test entry) is one of pkgs or
// below one.
func within(path string, pkgs ...string) bool {
	path = packageOf(path)
	for _, p := range pkgs {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

func TestPackageOf(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"example.com/m/a":                             "example.com/m/a",
		"example.com/m/a [example.com/m/a.test]":      "example.com/m/a",
		"example.com/m/a_test [example.com/m/a.test]": "example.com/m/a",
		"example.com/m/a.test":                        "example.com/m/a",
	} {
		if got := packageOf(in); got != want {
			t.Errorf("packageOf(%q) = %q, want %q", in, got, want)
		}
	}
	if !within("example.com/m/store/oci [example.com/m/store/oci.test]", "example.com/m/store") || within("example.com/m/storex", "example.com/m/store") {
		t.Error("within: wrong")
	}
}

// packageGraph is the package graph of the README's Development section:
// for every package of the module (cmd/attestor aside: it may import any),
// the packages of ours its code imports directly, by path below the module
// ("attestor/fault"). TestLayering checks that go list finds exactly this
// graph, and TestPackageGraphInREADME that the README shows it.
var packageGraph = map[string][]string{
	// Leaves: what every layer marks, reads and writes with.
	"attestor/fault":     nil,
	"attestor/safefile":  {"attestor/fault"},
	"attestor/envelope":  {"attestor/fault"},
	"attestor/workspace": {"attestor/envelope", "attestor/fault", "attestor/safefile"},
	// The HTTP policy every client shares.
	"attestor/internal/redirect": nil,
	"attestor/internal/retry":    {"attestor/internal/redirect"},
	// The recording engine, and the hashing under it.
	"attestor/hashing": {"attestor/fault", "attestor/safefile"},
	"attestor":         {"attestor/envelope", "attestor/fault", "attestor/hashing", "attestor/safefile", "attestor/workspace"},
	// Signers and stores: never the engine, the gate or promote.
	"attestor/sign":          {"attestor/envelope", "attestor/fault", "attestor/internal/redirect", "attestor/internal/retry", "attestor/safefile"},
	"attestor/sign/kms":      {"attestor/envelope", "attestor/fault", "attestor/sign"},
	"attestor/store":         {"attestor/envelope", "attestor/fault"},
	"attestor/store/local":   {"attestor/fault", "attestor/safefile", "attestor/store", "attestor/workspace"},
	"attestor/store/oci":     {"attestor/envelope", "attestor/fault", "attestor/internal/retry", "attestor/safefile", "attestor/sign", "attestor/store", "attestor/workspace"},
	"attestor/store/grafeas": {"attestor/envelope", "attestor/fault", "attestor/internal/redirect", "attestor/internal/retry", "attestor/safefile", "attestor/store", "attestor/workspace"},
	// The provenance document and the platforms' facts.
	"provenance":         {"actions", "attestor", "attestor/envelope", "attestor/fault"},
	"actions":            {"attestor/safefile"},
	"actions/github":     nil,
	"actions/cloudbuild": nil,
	"actions/spinnaker":  {"actions"},
	// The gate verifies (no store client); promote acts.
	"attestor/gate":                   {"attestor/envelope", "attestor/fault", "attestor/gate/internal/linkjson", "attestor/safefile", "attestor/sign", "attestor/store", "attestor/workspace", "provenance"},
	"attestor/gate/internal/linkjson": nil,
	"attestor/promote":                {"attestor/envelope", "attestor/fault", "attestor/gate", "attestor/store", "attestor/store/grafeas", "attestor/store/oci", "attestor/workspace"},
	// Test kits: imported by tests only (TestLayering checks that too).
	"attestor/internal/faulttest": nil,
	"attestor/internal/testkit":   {"attestor", "attestor/envelope", "attestor/sign", "attestor/store", "attestor/store/oci", "attestor/workspace"},
	"attestor/sign/signtest":      {"attestor/envelope", "attestor/sign"},
	"attestor/store/storetest":    {"attestor/envelope", "attestor/fault", "attestor/sign", "attestor/store"},
}

// testKits are the packages of packageGraph that only tests may import.
var testKits = []string{"attestor/internal/faulttest", "attestor/internal/testkit", "attestor/sign/signtest", "attestor/store/storetest"}

// TestLayering enforces the package graph of the README's Development
// section: every package's code imports exactly the packages of ours that
// packageGraph lists (a new package, or a new import, is a decision to
// write down there), no package's code imports a test kit, and, tests
// included, attestor/gate imports no store client and not promote, and no
// store imports the gate or promote, which are built on top of them.
func TestLayering(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	t.Parallel()
	const module = "github.com/attestor/attestor/"
	code := goListImports(t, nil, "./...")
	listed := map[string]bool{}
	for full, imports := range code {
		p, ok := strings.CutPrefix(full, module)
		if !ok || p == "cmd/attestor" {
			continue
		}
		listed[p] = true
		want, ok := packageGraph[p]
		if !ok {
			t.Errorf("package %s is not in packageGraph (attestor/deps_test.go) nor in the README's package graph: add it, with what it may import", p)
			continue
		}
		var got []string
		for _, q := range imports {
			if q, ok := strings.CutPrefix(q, module); ok {
				got = append(got, q)
				if slices.Contains(testKits, q) && !slices.Contains(testKits, p) {
					t.Errorf("%s imports the test kit %s", p, q)
				}
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s imports %q of ours; the package graph says %q", p, got, want)
		}
	}
	for p := range packageGraph {
		if !listed[p] {
			t.Errorf("packageGraph names %s, which go list does not list", p)
		}
	}

	var (
		gate    = module + "attestor/gate"
		promote = module + "attestor/promote"
		stores  = module + "attestor/store"
	)
	imports := goListImports(t, []string{"-test"}, "./attestor/...")
	for _, want := range []string{gate, promote, stores, stores + "/oci", stores + "/grafeas"} {
		if _, ok := imports[want]; !ok {
			t.Fatalf("go list did not list %s", want)
		}
	}
	type rule struct {
		from      func(string) bool
		forbidden []string
		why       string
	}
	for _, r := range []rule{
		{
			from:      func(p string) bool { return p == gate },
			forbidden: []string{stores + "/oci", stores + "/grafeas", promote},
			why:       "the gate verifies: it imports no store client, and promote sits above it",
		},
		{
			from:      func(p string) bool { return within(p, stores) },
			forbidden: []string{gate, promote},
			why:       "a store never imports what is built on it",
		},
	} {
		checked := 0
		for p := range imports {
			if !r.from(p) {
				continue
			}
			checked++
			if chain := chainTo(imports, p, func(q string) bool { return within(q, r.forbidden...) }); chain != nil {
				t.Errorf("%s imports %s (%s):\n\t%s", p, chain[len(chain)-1], r.why, strings.Join(chain, "\n\t→ "))
			}
		}
		if checked == 0 {
			t.Errorf("no package to check (%s)", r.why)
		}
	}
}

// renderGraph writes packageGraph as the README shows it: one line per
// package, in the order of its layers (a package after everything it
// imports, then by name), with the packages it imports by their short
// names (below attestor/, without the prefix).
func renderGraph() string {
	short := func(p string) string {
		if s, ok := strings.CutPrefix(p, "attestor/"); ok {
			return s
		}
		return p
	}
	depth := map[string]int{}
	var level func(string) int
	level = func(p string) int {
		if d, ok := depth[p]; ok {
			return d
		}
		d := 0
		for _, q := range packageGraph[p] {
			d = max(d, level(q)+1)
		}
		depth[p] = d
		return d
	}
	pkgs := slices.Collect(maps.Keys(packageGraph))
	slices.SortFunc(pkgs, func(a, b string) int {
		if c := cmp.Compare(level(b), level(a)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	width := 0
	for _, p := range pkgs {
		width = max(width, len(p))
	}
	var b strings.Builder
	for _, p := range pkgs {
		var to []string
		for _, q := range packageGraph[p] {
			to = append(to, short(q))
		}
		line := fmt.Sprintf("%-*s → %s", width, p, strings.Join(to, ", "))
		if len(to) == 0 {
			line = fmt.Sprintf("%-*s → (none)", width, p)
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// TestPackageGraphInREADME checks that the README's package graph is
// packageGraph, so that the two cannot drift apart. With -update it
// rewrites the block in the README.
func TestPackageGraphInREADME(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "README.md")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const open, end = "```text package-graph\n", "```\n"
	readme := string(data)
	i := strings.Index(readme, open)
	if i < 0 {
		t.Fatalf("README.md has no %q block", strings.TrimSpace(open))
	}
	j := strings.Index(readme[i+len(open):], end)
	if j < 0 {
		t.Fatal("README.md: the package graph block does not end")
	}
	got, want := readme[i+len(open):i+len(open)+j], renderGraph()
	if got == want {
		return
	}
	if attestor.Update() {
		if err := os.WriteFile(path, []byte(readme[:i+len(open)]+want+readme[i+len(open)+j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's package graph is not packageGraph (attestor/deps_test.go); run go test ./attestor -run TestPackageGraphInREADME -update\ngot:\n%s\nwant:\n%s", got, want)
}
