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
	parent := map[string]string{root: ""}
	queue := []string{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if isNetworkClient(p) {
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
