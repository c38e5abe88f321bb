package gate

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/attestor/attestor/actions"
	"github.com/attestor/attestor/provenance"
)

// demoChain records the demo pipeline (testdata/demo: checkout → build →
// package, with provenance) with deterministic keys and clock, and
// returns it with the demo policy (its key demo.pub written beside it).
func demoChain(t *testing.T) (*chain, *Policy) {
	t.Helper()
	c := newChain(t)
	c.write(map[string]string{"upstream/main.go": "package main\n\nfunc main() {}\n", "upstream/go.mod": "module hello\n"})
	c.step("checkout", "demo", nil, []string{"src"}, []string{"cp", "-R", "upstream", "src"}, func() {
		c.write(map[string]string{"src/main.go": "package main\n\nfunc main() {}\n", "src/go.mod": "module hello\n"})
	})
	c.step("build", "demo", []string{"src"}, []string{"bin/hello"}, []string{"go", "build", "-o", "../bin/hello", "."}, func() {
		c.write(map[string]string{"bin/hello": "\x7fELF hello\n"})
	})
	c.step("package", "demo", []string{"bin/hello"}, []string{"dist/hello.tar.gz"}, []string{"tar", "-czf", "dist/hello.tar.gz", "-C", "bin", "hello"}, func() {
		c.write(map[string]string{"dist/hello.tar.gz": "tar.gz of hello\n"})
	})
	c.provenance("demo", c.subject("dist/hello.tar.gz"),
		provenance.WithBuilderID("https://github.com/attestor/attestor/builders/local"),
		provenance.WithBuildType("https://github.com/attestor/attestor/buildtypes/local/v1"),
		provenance.WithSource(actions.Source{Repo: "https://example.com/demo/hello", Ref: "refs/heads/main", Commit: strings.Repeat("b", 40)}))
	doc, err := os.ReadFile(filepath.Join("..", "..", "testdata", "demo", "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c.key("demo")
	return c, c.policy(string(doc))
}

// TestGraphGolden: the Mermaid and DOT graphs of the demo policy's
// verification, passing and refused (the tarball altered after
// packaging), are golden.
func TestGraphGolden(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		tamper  bool
		verdict string
	}{{"pass", false, Passed}, {"refused", true, Failed}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, p := demoChain(t)
			if tt.tamper {
				c.write(map[string]string{"dist/hello.tar.gz": "tar.gz of hello\ntampered"})
			}
			// The demo policy's maxAge is 1h: verify just after the build.
			res, _ := c.verify(p, c.subject("dist/hello.tar.gz"), WithClock(func() time.Time { return c.when.Add(5 * time.Minute) }))
			if res.Verdict != tt.verdict {
				t.Fatalf("verdict %s, want %s: %+v", res.Verdict, tt.verdict, res.Reasons)
			}
			g, err := NewGraph(p, res)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", "golden", "graph-demo-"+tt.name+".mmd"), g.Mermaid())
			golden(t, filepath.Join("testdata", "golden", "graph-demo-"+tt.name+".dot"), g.DOT())
			if dot := lookTool(t, "dot"); dot != "" {
				checkDOT(t, dot, g)
			}
		})
	}
}

// TestGraphModel: nodes, statuses and edges of a refused chain in which
// a step is missing, one signed by an unknown key, a required
// attestation missing; MATCH rules from materials and from several
// patterns make one labelled edge per pair of steps.
func TestGraphModel(t *testing.T) {
	t.Parallel()
	c := newChain(t)
	c.pipeline(nil)
	c.remove(c.envelopeOf("checkout"))
	c.step("checkout", "mallory", nil, []string{"src"}, nil, nil)
	c.key("ci")
	p := c.policy(`version: 1
expires: 2099-12-31T00:00:00Z
functionaries:
  ci: {key: ci.pub}
steps:
  - name: checkout
    functionaries: [ci]
    products: [[CREATE, "src/*"]]
  - name: build
    functionaries: [ci]
    materials: [[MATCH, "src/*.c", WITH, PRODUCTS, FROM, checkout], [MATCH, "src/*.sh", WITH, PRODUCTS, FROM, checkout], [MATCH, "*", WITH, MATERIALS, FROM, checkout]]
  - name: package
    functionaries: [ci]
    materials: [[MATCH, dist/app, WITH, PRODUCTS, FROM, build]]
  - name: scan
    functionaries: [ci]
attestations:
  - {predicateType: "https://cosign.sigstore.dev/attestation/vuln/v1", functionaries: [ci]}
`)
	res, _ := c.verify(p, c.subject("app.tar"))
	g, err := NewGraph(p, res)
	if err != nil {
		t.Fatal(err)
	}
	type node struct{ ID, Kind, Name, Status string }
	var nodes []node
	for _, n := range g.Nodes {
		nodes = append(nodes, node{n.ID, n.Kind, n.Name, n.Status})
		if n.Status != NodePassed && n.Reason == "" {
			t.Errorf("node %s is %s without a reason", n.ID, n.Status)
		}
	}
	want := []node{
		{"s0", NodeStep, "checkout", NodeFailed}, // signed by an unknown key
		{"s1", NodeStep, "build", NodePassed},
		{"s2", NodeStep, "package", NodePassed},
		{"s3", NodeStep, "scan", NodeMissing},
		{"subject", NodeSubject, "app.tar@" + shortDigest(res.Subject.Digest), NodeFailed},
		{"a0", NodeAttestation, "https://cosign.sigstore.dev/attestation/vuln/v1", NodeMissing},
	}
	if diff := cmp.Diff(want, nodes); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
	if !strings.Contains(g.Nodes[0].Reason, "not by a functionary") {
		t.Errorf("checkout's reason %q does not say who signed it", g.Nodes[0].Reason)
	}
	wantEdges := []GraphEdge{
		{From: "s0", To: "s1", Label: "src/*.c, src/*.sh, materials: *"},
		{From: "s1", To: "s2", Label: "dist/app"},
		{From: "s3", To: "subject", Label: "products"},
		{From: "a0", To: "subject", Label: "attests"},
	}
	if diff := cmp.Diff(wantEdges, g.Edges); diff != "" {
		t.Errorf("edges (-want +got):\n%s", diff)
	}
	if _, err := NewGraph(p, nil); err == nil {
		t.Error("NewGraph of a nil result: no error")
	}
	if _, err := g.Render("svg"); err == nil {
		t.Error("Render(svg): no error")
	}
}

// hostileGraph is a graph whose every text holds what could break out of
// a label in Mermaid, DOT, HTML or markdown, or reach a terminal.
func hostileGraph(t *testing.T) *Graph {
	t.Helper()
	texts := []string{
		`a"] --> evil["x`,
		"x\"|y]);\nclick s0 call alert(1)\n%%{init: {}}%%",
		"```\n</pre><script>alert(1)</script>",
		`back\slash \N \G \"quoted\" {braces} [brackets] <html> & amp #35; ;`,
		"esc \x1b[31mred\x1b[0m bell\a nul\x00 del\x7f c1\u009b bidi\u202e tab\t",
		"invalid \xff\xfe utf-8 é 中文 🙂",
	}
	var g Graph
	g.Subject = SubjectRef{Name: texts[0], Digest: "sha256:" + strings.Repeat("ab", 32)}
	g.Verdict = Failed
	for i, s := range texts {
		id := "s" + strconv.Itoa(i)
		g.Nodes = append(g.Nodes, GraphNode{ID: id, Kind: NodeStep, Name: s, Status: NodeFailed, Reason: s})
		if i > 0 {
			g.Edges = append(g.Edges, GraphEdge{From: "s" + strconv.Itoa(i-1), To: id, Label: s})
		}
	}
	g.Nodes = append(g.Nodes, GraphNode{ID: "subject", Kind: NodeSubject, Name: texts[2], Status: NodeFailed, Reason: texts[1]})
	return &g
}

var (
	mermaidNode = regexp.MustCompile(`^  (s\d+|subject|provenance|a\d+)(\["|\(\["|\[\[")([A-Za-z0-9 .,:/_\-+=@!?*'()#;]*)<br/>([A-Za-z0-9 .,:/_\-+=@!?*'()#;]*)("\]|"\]\)|"\]\])$`)
	mermaidEdge = regexp.MustCompile(`^  (s\d+|subject|provenance|a\d+) -->\|"([A-Za-z0-9 .,:/_\-+=@!?*'()#;]*)"\| (s\d+|subject|provenance|a\d+)$`)
	mermaidRest = regexp.MustCompile(`^(flowchart LR|  classDef (passed|failed|missing) [a-z0-9:#,\- ]+|  class [a-z0-9,]+ (passed|failed|missing))$`)
	entity      = regexp.MustCompile(`#(\d+);`)
)

// decodeMermaid decodes Mermaid's entity codes.
func decodeMermaid(s string) string {
	return entity.ReplaceAllStringFunc(s, func(m string) string {
		n, _ := strconv.Atoi(m[1 : len(m)-1])
		return string(rune(n))
	})
}

// TestGraphEscaping: whatever the names and reasons hold, every line of
// the Mermaid graph is one node, one edge or a style line, its labels
// made only of safe characters and entity codes, which decode to the text
// with control characters replaced; the DOT graph parses with Graphviz to
// the same labels.
func TestGraphEscaping(t *testing.T) {
	t.Parallel()
	g := hostileGraph(t)
	mm := g.Mermaid()
	var labels []string
	for line := range strings.Lines(mm) {
		line = strings.TrimSuffix(line, "\n")
		switch {
		case mermaidNode.MatchString(line):
			m := mermaidNode.FindStringSubmatch(line)
			labels = append(labels, decodeMermaid(m[3]), decodeMermaid(m[4]))
		case mermaidEdge.MatchString(line):
			labels = append(labels, decodeMermaid(mermaidEdge.FindStringSubmatch(line)[2]))
		case mermaidRest.MatchString(line):
		default:
			t.Errorf("Mermaid line %q is not a node, an edge or a style", line)
		}
	}
	var want []string
	for _, n := range g.Nodes {
		for _, l := range n.lines() {
			want = append(want, clean(l))
		}
	}
	for _, e := range g.Edges {
		want = append(want, clean(truncate(e.Label, maxLabelReason)))
	}
	if diff := cmp.Diff(want, labels); diff != "" {
		t.Errorf("decoded Mermaid labels (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"\x1b", "```", "<script", "\n%%", "\u202e"} {
		if strings.Contains(mm, bad) {
			t.Errorf("Mermaid graph holds %q", bad)
		}
	}
	if strings.Contains(clean("a\x1bb\u202ec\xffd"), "\x1b") || clean("a\x1bb") != "a\uFFFDb" {
		t.Errorf("clean: %q", clean("a\x1bb\u202ec\xffd"))
	}
	dotText := g.DOT()
	if strings.Contains(dotText, "\x1b") || strings.Count(dotText, "\n") != len(g.Nodes)+len(g.Edges)+6 {
		t.Errorf("DOT graph has control characters or extra lines:\n%s", dotText)
	}
	if dot := lookTool(t, "dot"); dot != "" {
		checkDOT(t, dot, g)
	}
}

// checkDOT parses g's DOT with Graphviz and checks that it has g's nodes,
// edges and labels exactly.
func checkDOT(t *testing.T, dot string, g *Graph) {
	t.Helper()
	cmd := exec.Command(dot, "-Tjson0")
	cmd.Stdin = strings.NewReader(g.DOT())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dot: %v\n%s\n%s", err, stderr.String(), g.DOT())
	}
	var parsed struct {
		Objects []struct {
			Name  string `json:"name"`
			Label string `json:"label"`
		} `json:"objects"`
		Edges []struct {
			Tail  int    `json:"tail"`
			Head  int    `json:"head"`
			Label string `json:"label"`
		} `json:"edges"`
	}
	if err := json.Unmarshal(out, &parsed); err != nil {
		t.Fatalf("dot -Tjson0: %v", err)
	}
	// Graphviz keeps a label's \n escapes in its JSON.
	unescape := strings.NewReplacer(`\\`, `\`, `\"`, `"`, `\n`, "\n")
	var gotNodes, wantNodes []string
	for _, o := range parsed.Objects {
		gotNodes = append(gotNodes, o.Name+"="+unescape.Replace(o.Label))
	}
	for _, n := range g.Nodes {
		lines := n.lines()
		for i, l := range lines {
			lines[i] = clean(l)
		}
		wantNodes = append(wantNodes, n.ID+"="+strings.Join(lines, "\n"))
	}
	if diff := cmp.Diff(wantNodes, gotNodes); diff != "" {
		t.Errorf("Graphviz's nodes (-want +got):\n%s", diff)
	}
	var gotEdges, wantEdges []string
	for _, e := range parsed.Edges {
		gotEdges = append(gotEdges, parsed.Objects[e.Tail].Name+">"+parsed.Objects[e.Head].Name+"="+unescape.Replace(e.Label))
	}
	for _, e := range g.Edges {
		wantEdges = append(wantEdges, e.From+">"+e.To+"="+clean(truncate(e.Label, maxLabelReason)))
	}
	if diff := cmp.Diff(wantEdges, gotEdges); diff != "" {
		t.Errorf("Graphviz's edges (-want +got):\n%s", diff)
	}
}

// FuzzGraphLabels: whatever a name, reason or pattern holds, every line of
// the Mermaid graph is a node, an edge or a style line whose labels decode
// to the text (control characters replaced), and the DOT graph has one
// line per node and edge, no control character, and no unescaped quote.
func FuzzGraphLabels(f *testing.F) {
	for _, s := range []string{"build", `a"] --> b["`, "x\n%%{init}%%", "```", "\x1b[2J", "\\N \\\"", "\xff", "\u202e", "#35;"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, name, reason string) {
		g := &Graph{
			Subject: SubjectRef{Name: name, Digest: "sha256:" + strings.Repeat("0", 64)},
			Verdict: Failed,
			Nodes: []GraphNode{
				{ID: "s0", Kind: NodeStep, Name: name, Status: NodeFailed, Reason: reason},
				{ID: "subject", Kind: NodeSubject, Name: reason, Status: NodeMissing, Reason: name},
			},
			Edges: []GraphEdge{{From: "s0", To: "subject", Label: reason}},
		}
		want := []string{clean(name), clean("failed: " + truncate(reason, maxLabelReason)), clean(reason), clean("missing: " + truncate(name, maxLabelReason)), clean(truncate(reason, maxLabelReason))}
		if reason == "" {
			want[1] = clean("failed")
		}
		if name == "" {
			want[3] = clean("missing")
		}
		var got []string
		for line := range strings.Lines(g.Mermaid()) {
			line = strings.TrimSuffix(line, "\n")
			switch {
			case mermaidNode.MatchString(line):
				m := mermaidNode.FindStringSubmatch(line)
				got = append(got, decodeMermaid(m[3]), decodeMermaid(m[4]))
			case mermaidEdge.MatchString(line):
				got = append(got, decodeMermaid(mermaidEdge.FindStringSubmatch(line)[2]))
			case mermaidRest.MatchString(line):
			default:
				t.Fatalf("Mermaid line %q", line)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("Mermaid labels (-want +got):\n%s", diff)
		}
		dot := g.DOT()
		if strings.Count(dot, "\n") != len(g.Nodes)+len(g.Edges)+6 || strings.ContainsFunc(dot, func(r rune) bool { return r != '\n' && (r < 0x20 || r == 0x7f) }) {
			t.Fatalf("DOT graph:\n%q", dot)
		}
		for line := range strings.Lines(dot) {
			// Outside the quoted strings, only the structure: an
			// unescaped quote would end a label early.
			unquoted := regexp.MustCompile(`"(\\.|[^"\\])*"`).ReplaceAllString(line, `""`)
			if strings.ContainsAny(unquoted, `\`) || strings.Count(unquoted, `"`)%2 != 0 {
				t.Fatalf("DOT line %q: unbalanced quoting", line)
			}
		}
	})
}
