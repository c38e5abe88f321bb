package hashing

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand"
	"os/exec"
	"strings"
	"testing"

	"github.com/attestor/attestor/attestor/fault"
)

func TestExcluded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		patterns []string
		name     string
		want     bool
	}{
		// A name without a slash matches at any depth, and so does
		// everything below what it matches.
		{[]string{"*.pyc"}, "x.pyc", true},
		{[]string{"*.pyc"}, "a/b/x.pyc", true},
		{[]string{"*.pyc"}, "x.py", false},
		{[]string{"*.pyc"}, "x.pyc.txt", false},
		{[]string{"*.pyc"}, ".pyc", true},
		{[]string{"*.pyc"}, "d.pyc/inner.txt", true},
		{[]string{"node_modules"}, "node_modules", true},
		{[]string{"node_modules"}, "node_modules/a/b.js", true},
		{[]string{"node_modules"}, "web/node_modules/a.js", true},
		{[]string{"node_modules"}, "node_modules_x/a.js", false},
		{[]string{"*.link*"}, "build.a1b2c3d4.link", true},
		{[]string{"*.link*"}, "a/x.linkage", true},
		{[]string{"*.link*"}, "linker.c", false},
		{[]string{".git"}, ".git/HEAD", true},
		{[]string{".git"}, "sub/.git/config", true},
		{[]string{".git"}, ".github/workflows/ci.yml", false},
		{[]string{"*~"}, "main.go~", true},
		{[]string{"*~"}, "main.go", false},
		// A trailing slash: only what is below a directory of that name
		// (a file of that name does not match).
		{[]string{"build/"}, "build", false},
		{[]string{"build/"}, "build/out", true},
		{[]string{"build/"}, "src/build/out/x", true},
		{[]string{"build/"}, "buildx/out", false},
		// A leading slash anchors at the base directory.
		{[]string{"/dist"}, "dist", true},
		{[]string{"/dist"}, "dist/a", true},
		{[]string{"/dist"}, "web/dist", false},
		{[]string{"/.attestor/"}, ".attestor/build.link", true},
		{[]string{"/.attestor/"}, "x/.attestor/build.link", false},
		// A slash inside anchors too.
		{[]string{"docs/*.md"}, "docs/a.md", true},
		{[]string{"docs/*.md"}, "x/docs/a.md", false},
		{[]string{"docs/*.md"}, "docs/sub/a.md", false},
		// "**".
		{[]string{"**/x"}, "x", true},
		{[]string{"**/x"}, "a/b/x", true},
		{[]string{"**/x"}, "a/x/y", true},
		{[]string{"a/**/b"}, "a/b", true},
		{[]string{"a/**/b"}, "a/x/y/b", true},
		{[]string{"a/**/b"}, "x/a/b", false},
		{[]string{"a/**"}, "a", false},
		{[]string{"a/**"}, "a/x", true},
		{[]string{"**"}, "anything/at/all", true},
		{[]string{"**/"}, "top", false},
		{[]string{"**/"}, "dir/file", true},
		// Single characters and bracket expressions.
		{[]string{"?.c"}, "a.c", true},
		{[]string{"?.c"}, "ab.c", false},
		{[]string{"?.c"}, "é.c", true},
		{[]string{"[ab].c"}, "b.c", true},
		{[]string{"[ab].c"}, "c.c", false},
		{[]string{"[!ab].c"}, "c.c", true},
		{[]string{"[!ab].c"}, "a.c", false},
		{[]string{"[a-c]x"}, "bx", true},
		{[]string{"[a-c]x"}, "dx", false},
		{[]string{"[]]"}, "]", true},
		{[]string{"[^a]"}, "^", true}, // '^' is a literal in pathspec
		{[]string{"[^a]"}, "b", false},
		{[]string{"[a-]"}, "-", true},
		{[]string{"x[!y]z"}, "x/z", true}, // as Python's regex: a negated set matches '/'
		{[]string{"[ab"}, "[ab", true},    // no closing bracket: literal
		// Escapes.
		{[]string{`\*.c`}, "*.c", true},
		{[]string{`\*.c`}, "a.c", false},
		{[]string{`\!important`}, "!important", true},
		{[]string{`\#x`}, "#x", true},
		// Comments, blanks and surrounding spaces.
		{[]string{"#x"}, "#x", false},
		{[]string{"", "   "}, "x", false},
		{[]string{"  x.c\t"}, "x.c", true},
		// The last matching pattern decides.
		{[]string{"*.log", "!keep.log"}, "keep.log", false},
		{[]string{"*.log", "!keep.log"}, "other.log", true},
		{[]string{"!keep.log", "*.log"}, "keep.log", true},
		{[]string{"build/", "!build/keep"}, "build/keep", false},
		// The base directory itself, as the reference implementation
		// names it.
		{[]string{"*"}, ".", true},
		{[]string{".*"}, ".", true},
		{[]string{"*.c"}, ".", false},
		// Case matters; names are not Unicode-normalized.
		{[]string{"*.C"}, "x.c", false},
		// A newline in a name, as Python's "." and "$" treat it.
		{[]string{"x"}, "a\nb/x", false},
		{[]string{"a*"}, "a\n", true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.patterns, ",")+"~"+tt.name, func(t *testing.T) {
			t.Parallel()
			ex, err := compileExcludes(tt.patterns)
			if err != nil {
				t.Fatal(err)
			}
			if got := ex.excluded(tt.name); got != tt.want {
				t.Errorf("excluded(%q) with %q = %v, want %v", tt.name, tt.patterns, got, tt.want)
			}
		})
	}
}

func TestExcludePrune(t *testing.T) {
	t.Parallel()
	tests := []struct {
		patterns []string
		dir      string
		want     bool
	}{
		{[]string{"node_modules"}, "node_modules", true},
		{[]string{"node_modules"}, "a/node_modules", true},
		{[]string{"build/"}, "build", true},
		{[]string{"build/"}, "a/build", true},
		{[]string{"/.attestor/"}, ".attestor", true},
		{[]string{"/.attestor/"}, "x/.attestor", false},
		{[]string{"a/**"}, "a", true},
		{[]string{"a/*"}, "a", true},
		{[]string{"a/**/b/"}, "a/x/b", true},
		{[]string{"**/"}, "top", true},
		{[]string{"a/*.c"}, "a", false},
		{[]string{"a/?"}, "a", false},
		{[]string{"src"}, "lib", false},
		// A later '!' pattern may re-include something below: walk it.
		{[]string{"build/", "!build/keep"}, "build", false},
		{[]string{"!x", "build/"}, "build", true},
		// ... unless the directory is excluded itself, which the
		// reference implementation does not walk.
		{[]string{"build", "!build/keep"}, "build", true},
		{[]string{"build", "!build"}, "build", false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.patterns, ",")+"~"+tt.dir, func(t *testing.T) {
			t.Parallel()
			ex, err := compileExcludes(tt.patterns)
			if err != nil {
				t.Fatal(err)
			}
			if got := ex.prune(tt.dir); got != tt.want {
				t.Errorf("prune(%q) with %q = %v, want %v", tt.dir, tt.patterns, got, tt.want)
			}
		})
	}
}

func TestExcludePatternErrors(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"!", `foo\`, "[z-a]", "a/[c-b]"} {
		_, err := compileExcludes([]string{p})
		if !errors.Is(err, fault.ErrInvalidInput) {
			t.Errorf("compileExcludes(%q) = %v, want fault.ErrInvalidInput", p, err)
		} else if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not name the pattern %q", err, p)
		}
	}
	if _, err := NewHasher(WithExcludes("ok", "[z-a]")); !errors.Is(err, fault.ErrInvalidInput) {
		t.Errorf("NewHasher with a bad pattern = %v, want fault.ErrInvalidInput", err)
	}
}

// randomPatterns and randomNames make cases that reach the corners of
// pathspec's translation.
func randomPatterns(r *rand.Rand, n int) []string {
	atoms := []string{"a", "b", "ab", "*", "**", "?", "[ab]", "[!a]", "[a-c]", "[]a]", "[^a]",
		`\*`, `\`, "!", "#", ".", "x.y", "*.c", "/", "[", "]", "-", " ", "\n", "é", "[z-a]", "[!]", "[a-]"}
	var out []string
	for range n {
		var b strings.Builder
		for range 1 + r.Intn(5) {
			b.WriteString(atoms[r.Intn(len(atoms))])
		}
		out = append(out, b.String())
	}
	return out
}

func randomNames(r *rand.Rand, n int) []string {
	segs := []string{"a", "b", "ab", "c", "x.y", "a.c", ".", "..x", "-", "]", "^", "é", "*", "a\nb", "["}
	var out []string
	for range n {
		var p []string
		for range 1 + r.Intn(4) {
			p = append(p, segs[r.Intn(len(segs))])
		}
		out = append(out, strings.Join(p, "/"))
	}
	return out
}

// TestExcludeMatchersAgree checks the segment matcher against the regular
// expression each pattern also compiles to.
func TestExcludeMatchersAgree(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewSource(1))
	names := randomNames(r, 200)
	for _, src := range randomPatterns(r, 2000) {
		p, err := compilePattern(src)
		if err != nil || p == nil || !p.segOK {
			continue
		}
		for _, name := range names {
			if strings.Contains(name, "\n") {
				continue
			}
			if got, want := p.matchAt(name, 0, 0, false), p.re.MatchString(name); got != want {
				t.Errorf("pattern %q, name %q: segment matcher %v, regexp %v", src, name, got, want)
			}
		}
	}
}

// TestExcludeCoversBelow checks that prune never drops a directory below
// which a name would not be excluded.
func TestExcludeCoversBelow(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewSource(2))
	names := randomNames(r, 100)
	for _, src := range randomPatterns(r, 2000) {
		p, err := compilePattern(src)
		if err != nil || p == nil {
			continue
		}
		for _, dir := range names {
			if !p.coversBelow(dir) {
				continue
			}
			for _, below := range names {
				if strings.Contains(below, "\n") {
					continue // see coversBelow
				}
				if name := dir + "/" + below; !p.match(name) {
					t.Errorf("pattern %q covers %q but does not match %q", src, dir, name)
				}
			}
		}
	}
}

// pathspecPython returns a python3 that has pathspec (the reference
// implementation's matcher), or skips the test.
func pathspecPython(t *testing.T, module string) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import "+module).Run() == nil {
			return py
		}
	}
	t.Skipf("no python3 with %s (Debian: apt-get install in-toto)", module)
	return ""
}

const pathspecScript = `
import json, sys, warnings
warnings.simplefilter("ignore")
from pathspec.patterns.gitwildmatch import GitWildMatchPattern
req = json.load(sys.stdin)
out = []
for p in req["patterns"]:
    try:
        pat = GitWildMatchPattern(p)
    except Exception:
        out.append({"error": True}); continue
    if pat.include is None:
        out.append({"null": True}); continue
    out.append({"negate": not pat.include, "match": [pat.match_file(x) is not None for x in req["names"]]})
json.dump(out, sys.stdout)
`

// TestExcludesAgreeWithPathspec checks the compiled patterns against the
// reference implementation's own matcher, when it is installed.
func TestExcludesAgreeWithPathspec(t *testing.T) {
	t.Parallel()
	py := pathspecPython(t, "pathspec")
	r := rand.New(rand.NewSource(3))
	patterns := append(randomPatterns(r, 1500), DefaultExcludes...)
	patterns = append(patterns, "build/", "/abs", "**/x", "!neg", "a/**/b", "**/", "**", "/", "#c", " x ")
	names := append(randomNames(r, 150), "a/", "/a", "a//b", "\n", "a\n", "a/\n", ".", "build/x", "abs/x")
	in, err := json.Marshal(map[string]any{"patterns": patterns, "names": names})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-c", pathspecScript)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pathspec: %v\n%s", err, stderr.Bytes())
	}
	var want []struct {
		Error, Null, Negate bool
		Match               []bool
	}
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	for i, src := range patterns {
		p, err := compilePattern(src)
		w := want[i]
		switch {
		case w.Error:
			if !errors.Is(err, fault.ErrInvalidInput) {
				t.Errorf("pattern %q: got %v, want an error", src, err)
			}
			continue
		case err != nil:
			t.Errorf("pattern %q: %v", src, err)
			continue
		case w.Null != (p == nil):
			t.Errorf("pattern %q: compiled %v, pathspec null %v", src, p != nil, w.Null)
			continue
		case p == nil:
			continue
		}
		if p.negate != w.Negate {
			t.Errorf("pattern %q: negate %v, want %v", src, p.negate, w.Negate)
		}
		for j, name := range names {
			if got := p.match(name); got != w.Match[j] {
				t.Errorf("pattern %q, name %q: match %v, pathspec %v", src, name, got, w.Match[j])
			}
		}
	}
}

func FuzzExcludePattern(f *testing.F) {
	for _, p := range append(DefaultExcludes, "build/", "/abs", "**/x", "!neg", "a/**/b", "[!a]x", `\`, "[z-a]") {
		f.Add(p, "a/b/c.pyc")
	}
	f.Fuzz(func(t *testing.T, src, name string) {
		p, err := compilePattern(src)
		if err != nil || p == nil {
			return
		}
		if p.segOK && cleanName(name) && !strings.Contains(name, "\n") {
			if got, want := p.matchAt(name, 0, 0, false), p.re.MatchString(name); got != want {
				t.Errorf("pattern %q, name %q: segment matcher %v, regexp %v", src, name, got, want)
			}
		}
		if cleanName(name) && p.coversBelow(name) && !p.match(name+"/z") {
			t.Errorf("pattern %q covers %q but does not match %q", src, name, name+"/z")
		}
	})
}

func BenchmarkExcluded(b *testing.B) {
	ex, err := compileExcludes(append(DefaultExcludes, "/.attestor/", "node_modules"))
	if err != nil {
		b.Fatal(err)
	}
	names := []string{"src/internal/pkg/file_test.go", "vendor/github.com/x/y/z.go", "a.pyc", "README.md"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ex.excluded(names[i%len(names)])
	}
}
