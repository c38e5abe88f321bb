package gate

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/attestor/attestor/provenance"
)

// Graph formats.
const (
	// GraphMermaid is a Mermaid flowchart (GitHub renders it in a fenced
	// mermaid block).
	GraphMermaid = "mermaid"
	// GraphDOT is a Graphviz digraph (dot -Tsvg).
	GraphDOT = "dot"
)

// Kinds of GraphNode.
const (
	NodeStep        = "step"
	NodeSubject     = "subject"
	NodeProvenance  = "provenance"
	NodeAttestation = "attestation"
)

// Statuses of a GraphNode.
const (
	NodePassed  = "passed"
	NodeFailed  = "failed"
	NodeMissing = "missing"
)

// maxLabelReason bounds the reason a node shows (the result has it
// whole).
const maxLabelReason = 120

// Graph is the chain a verification checked, as a picture: the policy's
// steps in order, an edge for each MATCH rule from the step whose
// artifacts it reads to the step that consumes them, the subject after
// the last step, the provenance and each required attestation pointing
// at the subject; each node marked by its verdict. It is a pure function
// of a policy and a result (NewGraph), rendered by Mermaid and DOT.
type Graph struct {
	// Subject is the verified subject.
	Subject SubjectRef `json:"subject"`
	// Verdict is the verification's verdict.
	Verdict string `json:"verdict"`
	// Nodes are the steps (in policy order), the subject, the provenance
	// and the required attestations.
	Nodes []GraphNode `json:"nodes"`
	// Edges are the artifact flows (MATCH rules) and what points at the
	// subject, in policy order.
	Edges []GraphEdge `json:"edges"`
}

// GraphNode is one node of a Graph.
type GraphNode struct {
	// ID is the node's identifier in the rendered graph: s0, s1, ... for
	// steps, subject, provenance, a0, a1, ... for attestations. It never
	// holds text from the policy or an attestation.
	ID string `json:"id"`
	// Kind is NodeStep, NodeSubject, NodeProvenance or NodeAttestation.
	Kind string `json:"kind"`
	// Name is the step's name, the subject (name@digest), "provenance",
	// or the attestation's predicate type.
	Name string `json:"name"`
	// Status is NodePassed, NodeFailed or NodeMissing (no record, no
	// provenance, no attestation of the kind was found).
	Status string `json:"status"`
	// Reason is the first reason of a failed or missing node.
	Reason string `json:"reason,omitempty"`
}

// GraphEdge is one edge of a Graph.
type GraphEdge struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Label is the MATCH rules' patterns ("materials: P" when a rule
	// reads the other step's materials), or what points at the subject.
	Label string `json:"label"`
}

// NewGraph returns the graph of the verification res of policy p (the
// policy res was verified against: NewVerifier's).
func NewGraph(p *Policy, res *Result) (*Graph, error) {
	if p == nil || !p.compiled || res == nil {
		return nil, errors.New("gate: graph of a nil result or an uncompiled policy")
	}
	g := &Graph{Subject: res.Subject, Verdict: res.Verdict, Nodes: []GraphNode{}, Edges: []GraphEdge{}}
	// What was found, verified or not: a node with nothing is missing.
	foundStep, foundType := map[string]bool{}, map[string]bool{}
	for _, e := range res.Envelopes {
		foundStep[e.Step] = e.Step != ""
		foundType[e.PredicateType] = e.PredicateType != ""
	}
	stepID := map[string]string{}
	for i, s := range p.Steps {
		id := "s" + strconv.Itoa(i)
		stepID[s.Name] = id
		n := GraphNode{ID: id, Kind: NodeStep, Name: s.Name, Status: NodeMissing, Reason: "not checked"}
		if i := slices.IndexFunc(res.Steps, func(sr StepResult) bool { return sr.Name == s.Name }); i >= 0 {
			sr := res.Steps[i]
			n.Status, n.Reason = NodePassed, ""
			if sr.Verdict != Passed {
				n.Status = NodeFailed
				if sr.Records == 0 && !foundStep[s.Name] {
					n.Status = NodeMissing
				}
				// The first reason of the step: one about its
				// envelopes (an untrusted signer) comes first.
				if j := slices.IndexFunc(res.Reasons, func(r Reason) bool { return r.Step == s.Name }); j >= 0 {
					n.Reason = res.Reasons[j].Message
				} else if len(sr.Reasons) > 0 {
					n.Reason = sr.Reasons[0]
				}
			}
		}
		g.Nodes = append(g.Nodes, n)
	}
	for _, s := range p.Steps {
		type flow struct{ from, to string }
		var order []flow
		labels := map[flow][]string{}
		rules := p.rules[s.Name]
		for _, r := range slices.Concat(rules.materials, rules.products) {
			from, ok := stepID[r.dstStep]
			if r.typ != "MATCH" || !ok {
				continue
			}
			f := flow{from, stepID[s.Name]}
			if labels[f] == nil {
				order = append(order, f)
			}
			label := r.pattern
			if r.dstKind == materialsKind {
				label = "materials: " + label
			}
			if !slices.Contains(labels[f], label) {
				labels[f] = append(labels[f], label)
			}
		}
		for _, f := range order {
			g.Edges = append(g.Edges, GraphEdge{From: f.from, To: f.to, Label: strings.Join(labels[f], ", ")})
		}
	}

	subject := GraphNode{ID: "subject", Kind: NodeSubject, Name: res.Subject.Name, Status: NodePassed}
	if res.Subject.Digest != "" {
		subject.Name += "@" + shortDigest(res.Subject.Digest)
	}
	if !res.Verified {
		subject.Status = NodeFailed
		subject.Reason = fmt.Sprintf("refused, %d %s", len(res.Reasons), plural(len(res.Reasons), "reason", "reasons"))
	}
	g.Nodes = append(g.Nodes, subject)
	if len(p.Steps) > 0 {
		g.Edges = append(g.Edges, GraphEdge{From: stepID[p.Steps[len(p.Steps)-1].Name], To: subject.ID, Label: "products"})
	}
	if pr := res.Provenance; pr != nil {
		n := GraphNode{ID: "provenance", Kind: NodeProvenance, Name: "provenance", Status: NodePassed}
		if pr.Verdict != Passed {
			n.Status = NodeFailed
			if !foundType[provenance.PredicateTypeV1] && !foundType[provenance.PredicateTypeV02] {
				n.Status = NodeMissing
			}
			if len(pr.Reasons) > 0 {
				n.Reason = pr.Reasons[0]
			}
		}
		g.Nodes = append(g.Nodes, n)
		g.Edges = append(g.Edges, GraphEdge{From: n.ID, To: subject.ID, Label: "provenance of"})
	}
	for i, a := range res.Attestations {
		n := GraphNode{ID: "a" + strconv.Itoa(i), Kind: NodeAttestation, Name: a.PredicateType, Status: NodePassed}
		if a.Verdict != Passed {
			n.Status = NodeFailed
			if !foundType[a.PredicateType] {
				n.Status = NodeMissing
			}
			if len(a.Reasons) > 0 {
				n.Reason = a.Reasons[0]
			}
		}
		g.Nodes = append(g.Nodes, n)
		g.Edges = append(g.Edges, GraphEdge{From: n.ID, To: subject.ID, Label: "attests"})
	}
	return g, nil
}

// Render renders g in format (GraphMermaid or GraphDOT).
func (g *Graph) Render(format string) (string, error) {
	switch format {
	case GraphMermaid:
		return g.Mermaid(), nil
	case GraphDOT:
		return g.DOT(), nil
	}
	return "", fmt.Errorf("gate: graph format %q: want %s or %s", format, GraphMermaid, GraphDOT)
}

// lines returns the lines of a node's label: its name, then its status
// and reason.
func (n GraphNode) lines() []string {
	status := n.Status
	if n.Reason != "" {
		status += ": " + truncate(n.Reason, maxLabelReason)
	}
	return []string{n.Name, status}
}

// Mermaid renders g as a Mermaid flowchart, left to right. Every label
// is quoted and every character outside letters, digits, space and
// ".,:/_-+=@!?*'()" is written as an entity code (#34; for a quote), so
// no step name, file pattern or reason can end a label, start a
// directive, or inject HTML or a markdown fence; control characters
// become U+FFFD.
func (g *Graph) Mermaid() string {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	for _, n := range g.Nodes {
		open, end := `["`, `"]`
		switch n.Kind {
		case NodeSubject:
			open, end = `(["`, `"])`
		case NodeProvenance, NodeAttestation:
			open, end = `[["`, `"]]`
		}
		parts := n.lines()
		for i, p := range parts {
			parts[i] = mermaidText(p)
		}
		fmt.Fprintf(&b, "  %s%s%s%s\n", n.ID, open, strings.Join(parts, "<br/>"), end)
	}
	for _, e := range g.Edges {
		fmt.Fprintf(&b, "  %s -->|\"%s\"| %s\n", e.From, mermaidText(truncate(e.Label, maxLabelReason)), e.To)
	}
	b.WriteString("  classDef passed fill:#dafbe1,stroke:#1a7f37,color:#1f2328\n")
	b.WriteString("  classDef failed fill:#ffebe9,stroke:#cf222e,color:#1f2328\n")
	b.WriteString("  classDef missing fill:#fff8c5,stroke:#9a6700,color:#1f2328,stroke-dasharray:5 5\n")
	for _, status := range []string{NodePassed, NodeFailed, NodeMissing} {
		var ids []string
		for _, n := range g.Nodes {
			if n.Status == status {
				ids = append(ids, n.ID)
			}
		}
		if len(ids) > 0 {
			fmt.Fprintf(&b, "  class %s %s\n", strings.Join(ids, ","), status)
		}
	}
	return b.String()
}

// mermaidText escapes s for a quoted Mermaid label.
func mermaidText(s string) string {
	var b strings.Builder
	for _, r := range clean(s) {
		switch {
		case r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)), strings.ContainsRune(" .,:/_-+=@!?*'()", r):
			b.WriteRune(r)
		default:
			fmt.Fprintf(&b, "#%d;", r)
		}
	}
	return b.String()
}

// DOT renders g as a Graphviz digraph, left to right. Every label is a
// quoted string in which '"' and '\' are escaped (so Graphviz's \N, \G,
// ... escapes cannot be injected either) and control characters become
// U+FFFD; lines are separated by \n.
func (g *Graph) DOT() string {
	colors := map[string]string{
		NodePassed:  `fillcolor="#dafbe1", color="#1a7f37"`,
		NodeFailed:  `fillcolor="#ffebe9", color="#cf222e"`,
		NodeMissing: `fillcolor="#fff8c5", color="#9a6700", style="rounded,filled,dashed"`,
	}
	var b strings.Builder
	b.WriteString("digraph attestor {\n")
	b.WriteString("  rankdir=LR;\n")
	fmt.Fprintf(&b, "  label=\"%s: %s\";\n", dotText(g.Subject.Name+"@"+shortDigest(g.Subject.Digest)), dotText(g.Verdict))
	b.WriteString("  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n")
	b.WriteString("  edge [fontname=\"Helvetica\", fontsize=10];\n")
	for _, n := range g.Nodes {
		shape := ""
		switch n.Kind {
		case NodeSubject:
			shape = ", shape=oval"
		case NodeProvenance, NodeAttestation:
			shape = ", shape=note"
		}
		parts := n.lines()
		for i, p := range parts {
			parts[i] = dotText(p)
		}
		fmt.Fprintf(&b, "  %s [label=\"%s\"%s, %s];\n", n.ID, strings.Join(parts, `\n`), shape, colors[n.Status])
	}
	for _, e := range g.Edges {
		fmt.Fprintf(&b, "  %s -> %s [label=\"%s\"];\n", e.From, e.To, dotText(truncate(e.Label, maxLabelReason)))
	}
	b.WriteString("}\n")
	return b.String()
}

var dotReplacer = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// dotText escapes s for a quoted DOT string.
func dotText(s string) string { return dotReplacer.Replace(clean(s)) }

// clean returns s as valid UTF-8 with control and format characters
// (escapes, newlines, bidirectional overrides) replaced by U+FFFD.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

// truncate bounds s to n runes, marking the cut with "…".
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// shortDigest shortens "sha256:HEX" to its first 12 hex digits.
func shortDigest(d string) string {
	alg, hex, ok := strings.Cut(d, ":")
	if !ok {
		return short(d)
	}
	return alg + ":" + short(hex)
}
