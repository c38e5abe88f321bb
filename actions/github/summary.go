package github

import (
	"fmt"
	"strings"
)

// Summary is the step summary of one attestor command: a title and a table
// with one row per step, provenance or attestation.
type Summary struct {
	// Title heads the summary, such as "attestor verify".
	Title string
	// Subject is what the command is about (an image with its digest), ""
	// for none.
	Subject string
	// Verdict is the command's overall verdict ("PASSED", "FAILED"), ""
	// for commands that have none.
	Verdict string
	// Rows are the table's rows, in order.
	Rows []Row
	// Mermaid is a Mermaid diagram (the chain a verification checked,
	// gate.Graph.Mermaid) drawn under the table in a fenced mermaid block,
	// which GitHub renders; "" for none.
	Mermaid string
	// Notes are lines written under the table (and the diagram).
	Notes []string
}

// Row is one row of a Summary's table.
type Row struct {
	// Step is the step's name, or "(provenance)", or a predicate type.
	Step string
	// Signers are the signers (functionary names or key ids).
	Signers []string
	// Subjects are the subjects or products recorded.
	Subjects []string
	// Verdict is the row's verdict or status.
	Verdict string
}

// Markdown renders s as GitHub-flavoured markdown. Cell text is escaped so
// that no value (a step name, a file name) breaks the table.
func (s *Summary) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", cell(s.Title))
	if s.Subject != "" {
		fmt.Fprintf(&b, "**Subject:** `%s`\n\n", code(s.Subject))
	}
	if s.Verdict != "" {
		icon := ""
		switch s.Verdict {
		case "PASSED":
			icon = "✅ "
		case "FAILED":
			icon = "❌ "
		}
		fmt.Fprintf(&b, "**Verdict:** %s%s\n\n", icon, cell(s.Verdict))
	}
	if len(s.Rows) > 0 {
		b.WriteString("| Step | Signers | Subjects | Verdict |\n")
		b.WriteString("| --- | --- | --- | --- |\n")
		for _, r := range s.Rows {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", cellOr(r.Step), list(r.Signers), list(r.Subjects), cellOr(r.Verdict))
		}
		b.WriteString("\n")
	}
	if s.Mermaid != "" {
		// A fence longer than any run of backticks in the diagram: no
		// text in it can close the block (CommonMark).
		fence := strings.Repeat("`", max(3, longestRun(s.Mermaid, '`')+1))
		fmt.Fprintf(&b, "%smermaid\n%s", fence, s.Mermaid)
		if !strings.HasSuffix(s.Mermaid, "\n") {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%s\n\n", fence)
	}
	for _, n := range s.Notes {
		fmt.Fprintf(&b, "%s\n", cell(n))
	}
	return b.String()
}

func list(items []string) string {
	if len(items) == 0 {
		return "-"
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = "`" + code(it) + "`"
	}
	return strings.Join(out, "<br>")
}

func cellOr(s string) string {
	if s == "" {
		return "-"
	}
	return cell(s)
}

// cell escapes s for a table cell or a line of text.
var cellReplacer = strings.NewReplacer(
	"|", `\|`, "\r", " ", "\n", " ", "<", "&lt;", ">", "&gt;", "`", "'",
)

func cell(s string) string { return cellReplacer.Replace(s) }

// code escapes s for an inline code span inside a table cell.
var codeReplacer = strings.NewReplacer("|", `\|`, "\r", " ", "\n", " ", "`", "'")

func code(s string) string { return codeReplacer.Replace(s) }

// longestRun returns the length of the longest run of c in s.
func longestRun(s string, c byte) int {
	longest, n := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			n++
			longest = max(longest, n)
		} else {
			n = 0
		}
	}
	return longest
}
