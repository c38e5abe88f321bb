package hashing

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/attestor/attestor/attestor/fault"
)

// This file holds the exclude-pattern matcher of the Hasher. It reproduces,
// pattern for pattern and path for path, what the in-toto reference
// implementation (Python in-toto 1.x) does: every pattern is compiled as
// pathspec's "gitwildmatch" pattern (pathspec 0.11) and matched against the
// '/'-separated path relative to the base directory; the last pattern that
// matches a path decides (a pattern starting with '!' re-includes); a
// directory that is excluded is not walked, so nothing below it can be
// re-included.
//
// pathspec turns each pattern into a Python regular expression. The matcher
// below does not use regular expressions for the common case: for clean
// paths without a newline and patterns without a negated bracket
// expression, the expression always matches whole path segments, so it is
// matched segment by segment (no allocation). The other cases fall back to
// an equivalent Go regular expression, compiled once.

// excluder is a compiled, immutable list of exclude patterns.
type excluder struct {
	patterns []*pattern
	// lastNegation is the index of the last '!' pattern, -1 if none.
	lastNegation int
}

// pattern is one compiled gitwildmatch pattern.
type pattern struct {
	src    string // as given
	negate bool   // a '!' pattern: a match re-includes the path
	toks   []token
	// segOK is false when the pattern holds a negated bracket expression,
	// which can match '/' and so cross a segment boundary; such a pattern
	// is always matched with re.
	segOK bool
	re    *regexp.Regexp
	// need is a literal that every name the pattern matches contains.
	need string
}

type tokKind uint8

const (
	// tokSeg matches one segment with glob; when final, any further
	// segments too: "glob(?:/.*)?".
	tokSeg tokKind = iota
	// tokSkipLead matches zero or more leading segments: "(?:.+/)?".
	tokSkipLead
	// tokSkipMid matches zero or more inner segments: "(?:/.+)?".
	tokSkipMid
	// tokRest matches one or more trailing segments: "/.*".
	tokRest
	// tokAll matches any non-empty path: "[^/]+(?:/.*)?" (the pattern "**").
	tokAll
	// tokDeep matches any path of two or more segments: ".+/.*" (the
	// pattern "**/").
	tokDeep
)

type token struct {
	kind  tokKind
	final bool // tokSeg only: the last segment of the pattern
	glob  []globItem
}

type globKind uint8

const (
	globLit   globKind = iota // a literal string
	globStar                  // "[^/]*"
	globOne                   // "[^/]"
	globClass                 // a bracket expression
	globPlus                  // "[^/]+": a segment that is exactly "*"
)

type globItem struct {
	kind   globKind
	lit    string
	negate bool        // globClass
	ranges []runeRange // globClass
}

type runeRange struct{ lo, hi rune }

// compileExcludes compiles patterns in order. A pattern that the reference
// implementation rejects is a fault.ErrInvalidInput error; blank patterns and
// comments ('#') are skipped as it skips them.
func compileExcludes(patterns []string) (*excluder, error) {
	ex := &excluder{lastNegation: -1}
	for _, src := range patterns {
		p, err := compilePattern(src)
		if err != nil {
			return nil, err
		}
		if p == nil {
			continue
		}
		if p.negate {
			ex.lastNegation = len(ex.patterns)
		}
		ex.patterns = append(ex.patterns, p)
	}
	return ex, nil
}

// compilePattern mirrors GitWildMatchPattern.pattern_to_regex of pathspec
// 0.11. It returns nil for a pattern that matches nothing (blank, comment,
// a lone "/").
func compilePattern(src string) (*pattern, error) {
	s := strings.TrimFunc(src, isPySpace)
	if s == "" || strings.HasPrefix(s, "#") || s == "/" {
		return nil, nil
	}
	bad := func(why string) error {
		return fault.Invalidf("exclude pattern %q: %s", src, why)
	}
	p := &pattern{src: src, segOK: true}
	if strings.HasPrefix(s, "!") {
		p.negate = true
		s = s[1:]
	}
	segs := strings.Split(s, "/")
	// Collapse runs of "**".
	for i := len(segs) - 1; i > 0; i-- {
		if segs[i-1] == "**" && segs[i] == "**" {
			segs = append(segs[:i], segs[i+1:]...)
		}
	}
	deep := len(segs) == 2 && segs[0] == "**" && segs[1] == ""
	switch {
	case segs[0] == "":
		// Anchored to the base directory.
		segs = segs[1:]
	case len(segs) == 1 || (len(segs) == 2 && segs[1] == ""):
		// A single name matches at any depth.
		if segs[0] != "**" {
			segs = append([]string{"**"}, segs...)
		}
	}
	if len(segs) == 0 {
		return nil, bad("matches nothing")
	}
	if len(segs) > 1 && segs[len(segs)-1] == "" {
		// A trailing slash matches what is below a directory.
		segs[len(segs)-1] = "**"
	}
	if deep {
		p.toks = []token{{kind: tokDeep}}
	} else {
		end := len(segs) - 1
		for i, seg := range segs {
			switch {
			case seg == "**" && i == 0 && i == end:
				p.toks = append(p.toks, token{kind: tokAll})
			case seg == "**" && i == 0:
				p.toks = append(p.toks, token{kind: tokSkipLead})
			case seg == "**" && i == end:
				p.toks = append(p.toks, token{kind: tokRest})
			case seg == "**":
				p.toks = append(p.toks, token{kind: tokSkipMid})
			case seg == "*":
				p.toks = append(p.toks, token{kind: tokSeg, final: i == end, glob: []globItem{{kind: globPlus}}})
			default:
				g, err := compileGlob(seg)
				if err != nil {
					return nil, bad(err.Error())
				}
				for _, it := range g {
					if it.kind == globClass && it.negate {
						p.segOK = false
					}
				}
				p.toks = append(p.toks, token{kind: tokSeg, final: i == end, glob: g})
				for _, it := range g {
					if it.kind == globLit && len(it.lit) > len(p.need) {
						p.need = it.lit
					}
				}
			}
		}
	}
	re, err := regexp.Compile(p.goRegexp())
	if err != nil {
		return nil, bad(err.Error())
	}
	p.re = re
	return p, nil
}

// compileGlob mirrors pathspec's _translate_segment_glob and the way
// Python's re module then reads the bracket expressions it emits.
func compileGlob(seg string) ([]globItem, error) {
	var g []globItem
	lit := func(s string) {
		if n := len(g); n > 0 && g[n-1].kind == globLit {
			g[n-1].lit += s
			return
		}
		g = append(g, globItem{kind: globLit, lit: s})
	}
	escape := false
	for i := 0; i < len(seg); {
		r, w := utf8.DecodeRuneInString(seg[i:])
		c := seg[i : i+w]
		i += w
		switch {
		case escape:
			escape = false
			lit(c)
		case r == '\\':
			escape = true
		case r == '*':
			g = append(g, globItem{kind: globStar})
		case r == '?':
			g = append(g, globItem{kind: globOne})
		case r == '[':
			j := i
			if j < len(seg) && seg[j] == '!' {
				j++
			}
			if j < len(seg) && seg[j] == ']' {
				j++
			}
			for j < len(seg) && seg[j] != ']' {
				j++
			}
			if j >= len(seg) {
				// No closing bracket: a literal '['.
				lit("[")
				continue
			}
			it := globItem{kind: globClass}
			body := seg[i:j]
			switch {
			case strings.HasPrefix(body, "!"):
				it.negate = true
				body = body[1:]
			case strings.HasPrefix(body, "^"):
				// pathspec escapes it: a literal '^', first in the set.
			}
			rs := []rune(body)
			for k := 0; k < len(rs); {
				lo := rs[k]
				k++
				if k < len(rs) && rs[k] == '-' {
					if k+1 == len(rs) {
						// "x-]": x and a literal '-'.
						it.ranges = append(it.ranges, runeRange{lo, lo}, runeRange{'-', '-'})
						break
					}
					hi := rs[k+1]
					k += 2
					if hi < lo {
						return nil, fmt.Errorf("bad character range %s-%s", string(lo), string(hi))
					}
					it.ranges = append(it.ranges, runeRange{lo, hi})
					continue
				}
				it.ranges = append(it.ranges, runeRange{lo, lo})
			}
			g = append(g, it)
			i = j + 1
		default:
			lit(c)
		}
	}
	if escape {
		return nil, fmt.Errorf("escape character %q with nothing to escape", `\`)
	}
	return g, nil
}

// goRegexp returns the Go regular expression equivalent to the Python one
// pathspec builds, with Python's "$" (end, or before a final newline).
func (p *pattern) goRegexp() string {
	var b strings.Builder
	b.WriteString(`^`)
	needSlash := false
	for _, t := range p.toks {
		switch t.kind {
		case tokAll:
			b.WriteString(`[^/]+(?:/.*)?`)
		case tokDeep:
			b.WriteString(`.+/.*`)
		case tokSkipLead:
			b.WriteString(`(?:.+/)?`)
			needSlash = false
		case tokSkipMid:
			b.WriteString(`(?:/.+)?`)
			needSlash = true
		case tokRest:
			b.WriteString(`/.*`)
		case tokSeg:
			if needSlash {
				b.WriteString(`/`)
			}
			for _, it := range t.glob {
				switch it.kind {
				case globLit:
					b.WriteString(regexp.QuoteMeta(it.lit))
				case globStar:
					b.WriteString(`[^/]*`)
				case globOne:
					b.WriteString(`[^/]`)
				case globPlus:
					b.WriteString(`[^/]+`)
				case globClass:
					b.WriteString(`[`)
					if it.negate {
						b.WriteString(`^`)
					}
					for _, r := range it.ranges {
						fmt.Fprintf(&b, `\x{%x}-\x{%x}`, r.lo, r.hi)
					}
					b.WriteString(`]`)
				}
			}
			if t.final {
				b.WriteString(`(?:/.*)?`)
			}
			needSlash = true
		}
	}
	b.WriteString(`\n?\z`)
	return b.String()
}

// isPySpace reports whether Python's str.strip removes r.
func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// excluded reports whether the clean '/'-separated name (relative to the
// base directory; "." for the base directory itself) is excluded: the last
// pattern matching it is not a '!' pattern.
func (ex *excluder) excluded(name string) bool {
	if ex == nil {
		return false
	}
	seg := segmentable(name)
	for i := len(ex.patterns) - 1; i >= 0; i-- {
		if p := ex.patterns[i]; p.matchName(name, seg) {
			return !p.negate
		}
	}
	return false
}

// prune reports whether the directory name need not be walked: it is
// excluded itself (the reference implementation then does not walk it), or
// everything below it is (see coversBelow).
func (ex *excluder) prune(name string) bool {
	return ex.excluded(name) || ex.coversBelow(name)
}

// coversBelow reports whether nothing below the directory name can be
// recorded: an exclude pattern matches everything below it and no '!'
// pattern comes after that pattern (e.g. "build/").
func (ex *excluder) coversBelow(name string) bool {
	if ex == nil {
		return false
	}
	for i := len(ex.patterns) - 1; i > ex.lastNegation; i-- {
		if ex.patterns[i].coversBelow(name) {
			return true
		}
	}
	return false
}

// matchName is whether p matches name exactly as pathspec does, told whether name is segmentable.
func (p *pattern) matchName(name string, segmentable bool) bool {
	if !p.segOK || !segmentable {
		return p.re.MatchString(name)
	}
	if !strings.Contains(name, p.need) {
		return false
	}
	return p.matchAt(name, 0, 0, false)
}

// segmentable reports whether name can be matched segment by segment:
// whether it is clean and holds no newline (which Python's "." does not
// match).
func segmentable(name string) bool {
	return cleanName(name) && strings.IndexByte(name, '\n') < 0
}

// cleanName reports whether name is made of non-empty '/'-separated
// segments, the form matchAt assumes.
func cleanName(name string) bool {
	return name != "" && name[0] != '/' && name[len(name)-1] != '/' && !strings.Contains(name, "//")
}

// coversBelow reports whether p matches every path below the directory
// dir, whatever its name. (Strictly: every path without a newline below
// it; pathspec's ".*" does not match a newline, so a file named "a\nb"
// below "build/" is not excluded by "build/" in the reference
// implementation, while prune skips it with the rest of the directory.)
func (p *pattern) coversBelow(dir string) bool {
	// The stand-in segment for what is below dir matches wildcards only,
	// so every literal of the pattern must be in dir.
	if !p.segOK || !segmentable(dir) || !strings.Contains(dir, p.need) {
		return false
	}
	return p.matchAt(dir, 0, 0, true)
}

// matchAt reports whether p.toks[ti:] match name from byte offset pos, the
// start of a segment; pos == len(name)+1 means no segment is left. With
// below, name is followed by one more segment that stands for any name:
// only a token that matches every segment matches it.
func (p *pattern) matchAt(name string, ti, pos int, below bool) bool {
	end := len(name) + 1 // no segment left
	if below {
		end++ // the stand-in segment starts at len(name)+1
	}
	for ti < len(p.toks) {
		t := &p.toks[ti]
		switch t.kind {
		case tokAll:
			return pos < end
		case tokDeep:
			// Two or more segments in all.
			return strings.IndexByte(name, '/') > 0 || below
		case tokRest:
			return pos < end
		case tokSkipLead, tokSkipMid:
			for q := pos; q < end; q = nextSeg(name, q) {
				if p.matchAt(name, ti+1, q, below) {
					return true
				}
			}
			return false
		case tokSeg:
			if pos >= end {
				return false
			}
			var ok bool
			if pos > len(name) {
				ok = matchesAny(t.glob) // the stand-in segment
			} else {
				seg := name[pos:]
				if i := strings.IndexByte(seg, '/'); i >= 0 {
					seg = seg[:i]
				}
				ok = matchGlob(t.glob, seg)
			}
			if !ok {
				return false
			}
			if t.final {
				return true
			}
			pos = nextSeg(name, pos)
			ti++
		}
	}
	return pos >= end
}

// nextSeg returns the start of the segment after the one at pos.
func nextSeg(name string, pos int) int {
	if pos >= len(name) {
		return pos + 1
	}
	if i := strings.IndexByte(name[pos:], '/'); i >= 0 {
		return pos + i + 1
	}
	return len(name) + 1
}

// matchesAny reports whether g matches every non-empty segment.
func matchesAny(g []globItem) bool {
	for _, it := range g {
		if it.kind != globStar && it.kind != globPlus {
			return false
		}
	}
	return len(g) > 0
}

// matchGlob reports whether g matches all of seg: '*' backtracks to the
// last star, which is exact as every other item has a fixed length.
func matchGlob(g []globItem, seg string) bool {
	gi, si := 0, 0
	starG, starS := -1, 0
	for {
		if gi < len(g) {
			it := &g[gi]
			switch it.kind {
			case globStar:
				starG, starS = gi, si
				gi++
				continue
			case globPlus:
				// Only ever alone: the segment "*" is "[^/]+".
				return seg != ""
			case globLit:
				if strings.HasPrefix(seg[si:], it.lit) {
					gi++
					si += len(it.lit)
					continue
				}
			case globOne:
				if si < len(seg) {
					_, w := utf8.DecodeRuneInString(seg[si:])
					gi++
					si += w
					continue
				}
			case globClass:
				if si < len(seg) {
					r, w := utf8.DecodeRuneInString(seg[si:])
					if it.classMatch(r) {
						gi++
						si += w
						continue
					}
				}
			}
		} else if si == len(seg) {
			return true
		}
		if starG < 0 || starS >= len(seg) {
			return false
		}
		_, w := utf8.DecodeRuneInString(seg[starS:])
		starS += w
		gi, si = starG+1, starS
	}
}

func (it *globItem) classMatch(r rune) bool {
	for _, rr := range it.ranges {
		if rr.lo <= r && r <= rr.hi {
			return !it.negate
		}
	}
	return it.negate
}

// String returns the patterns, quoted, for error messages and tests.
func (ex *excluder) String() string {
	q := make([]string, len(ex.patterns))
	for i, p := range ex.patterns {
		q[i] = strconv.Quote(p.src)
	}
	return "[" + strings.Join(q, " ") + "]"
}
