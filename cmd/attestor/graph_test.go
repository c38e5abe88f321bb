package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVerifyGraph: verify --graph writes the chain it checked, as
// Mermaid by default or for a .mmd file, as DOT for a .dot file or with
// --graph-format dot, on a pass and on a failure (exit 1); bad graph flags
// are usage errors (exit 2) before anything is verified, and a graph that
// cannot be written leaves no file.
func TestVerifyGraph(t *testing.T) {
	t.Parallel()
	p, policy := gateProject(t)
	out := t.TempDir()
	verify := func(extra ...string) result {
		return cli(t, append([]string{"verify", "--dir", p.ws, "--artifact", p.path("app.tar"), "--policy", policy}, extra...)...)
	}
	read := func(name string) string {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}

	if r := verify("--graph", filepath.Join(out, "chain.mmd")); r.code != 0 {
		t.Fatalf("verify --graph:\n%s", r)
	}
	assertContains(t, "chain.mmd", read("chain.mmd"), "flowchart LR\n", `s0["build<br/>passed"]`, `s1["package<br/>passed"]`,
		`s0 -->|"bin/app"| s1`, `s1 -->|"products"| subject`, "class s0,s1,subject passed\n")
	if r := verify("--graph", filepath.Join(out, "chain.dot")); r.code != 0 {
		t.Fatalf("verify --graph chain.dot:\n%s", r)
	}
	assertContains(t, "chain.dot", read("chain.dot"), "digraph attestor {\n", `s0 -> s1 [label="bin/app"];`)
	if r := verify("--graph", filepath.Join(out, "chain.txt"), "--graph-format", "dot"); r.code != 0 {
		t.Fatalf("verify --graph-format dot:\n%s", r)
	}
	assertContains(t, "chain.txt", read("chain.txt"), "digraph attestor {\n")

	// Refused: the graph says where.
	writeFile(t, p.path("app.tar"), "evil")
	if r := verify("--graph", filepath.Join(out, "refused.mmd")); r.code != 1 {
		t.Fatalf("verify --graph of an altered artifact: exit %d, want 1\n%s", r.code, r)
	}
	assertContains(t, "refused.mmd", read("refused.mmd"), `s1["package<br/>failed: the products of the final step do not include`, "class s1,subject failed\n")

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--graph", filepath.Join(out, "x.mmd"), "--graph-format", "svg"}, `--graph-format "svg"`},
		{[]string{"--graph-format", "dot"}, "--graph-format needs --graph"},
		{[]string{"--graph", filepath.Join(out, "missing", "x.mmd")}, "--graph"},
	} {
		r := verify(tt.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("verify %q: exit %d, want 2 and %q\n%s", tt.args, r.code, tt.want, r)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "x.mmd")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused --graph-format wrote the graph: %v", err)
	}
	if r := cli(t, "verify", "--dir", p.ws, "--layout", "root.layout", "--layout-key", "k.pub", "--graph", filepath.Join(out, "l.mmd")); r.code != 2 {
		t.Errorf("verify --layout --graph: exit %d, want 2\n%s", r.code, r)
	}
}

// TestPromoteGraph: promote --graph draws the chain on a promotion and on
// a refusal.
func TestPromoteGraph(t *testing.T) {
	t.Parallel()
	keys := t.TempDir()
	ci, other := filepath.Join(keys, "ci.key"), filepath.Join(keys, "other.key")
	for _, k := range []string{ci, other} {
		writeKey(t, k, "ed25519")
	}
	for _, tt := range []struct {
		name      string
		policyKey string
		code      int
		want      []string
	}{
		{"pass", ci, 0, []string{`s0["push<br/>passed"]`, "class s0,subject passed\n"}},
		{"refused", other, 1, []string{`s0["push<br/>failed: `, "not by a functionary", "class s0,subject failed\n"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			host, _, policy := promoteSetup(t, ci, tt.policyKey)
			graph := filepath.Join(t.TempDir(), "promote.mmd")
			r := cli(t, "promote", "--dir", filepath.Join(t.TempDir(), ".attestor"), host+"/team/app:rc1", host+"/prod/app:v1",
				"--policy", policy, "--key", ci, "--graph", graph)
			if r.code != tt.code {
				t.Fatalf("promote --graph: exit %d, want %d\n%s", r.code, tt.code, r)
			}
			data, err := os.ReadFile(graph)
			if err != nil {
				t.Fatal(err)
			}
			assertContains(t, "promote.mmd", string(data), append([]string{"flowchart LR\n"}, tt.want...)...)
		})
	}
}
