package attestor_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
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

// TestLayering enforces the package graph of the README's Development
// section: the gate verifies, promote acts. attestor/gate (its code; its
// tests may push to a registry) imports no store client and not promote,
// and no store (attestor/store and the packages below it, tests included)
// imports the gate or promote, which are built on top of them.
func TestLayering(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	t.Parallel()
	const module = "github.com/attestor/attestor"
	var (
		gate    = module + "/attestor/gate"
		promote = module + "/attestor/promote"
		stores  = module + "/attestor/store"
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
