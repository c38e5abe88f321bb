package gate

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Artifact rule types, as the in-toto specification names them.
const (
	RuleMatch    = "MATCH"
	RuleAllow    = "ALLOW"
	RuleDisallow = "DISALLOW"
	RuleCreate   = "CREATE"
	RuleDelete   = "DELETE"
	RuleModify   = "MODIFY"
	RuleRequire  = "REQUIRE"
)

// Artifact kinds a MATCH rule compares with.
const (
	materialsKind = "materials"
	productsKind  = "products"
)

// rule is a compiled artifact rule.
type rule struct {
	raw       []string
	typ       string
	pattern   string
	m         matcher
	srcPrefix string // with a trailing "/", or empty
	dstPrefix string // with a trailing "/", or empty
	dstKind   string // materialsKind or productsKind
	dstStep   string
}

func (r *rule) String() string { return strings.Join(r.raw, " ") }

// parseRule parses an artifact rule as the in-toto specification writes
// it (keywords are case-insensitive):
//
//	MATCH <pattern> [IN <source-path-prefix>] WITH (MATERIALS|PRODUCTS)
//	      [IN <destination-path-prefix>] FROM <step>
//	ALLOW|DISALLOW|CREATE|DELETE|MODIFY|REQUIRE <pattern>
func parseRule(raw []string) (*rule, error) {
	if len(raw) < 2 {
		return nil, fmt.Errorf("rule %q: want a rule type and a pattern", raw)
	}
	r := &rule{raw: slices.Clone(raw), typ: strings.ToUpper(raw[0]), pattern: raw[1]}
	if r.pattern == "" {
		return nil, fmt.Errorf("rule %q: empty pattern", raw)
	}
	switch r.typ {
	case RuleAllow, RuleDisallow, RuleCreate, RuleDelete, RuleModify, RuleRequire:
		if len(raw) != 2 {
			return nil, fmt.Errorf("rule %q: %s takes exactly one pattern", raw, r.typ)
		}
	case RuleMatch:
		rest := raw[2:]
		kw := func(i int, want string) bool { return i < len(rest) && strings.EqualFold(rest[i], want) }
		i := 0
		if kw(i, "IN") {
			if i+1 >= len(rest) {
				return nil, fmt.Errorf("rule %q: IN without a prefix", raw)
			}
			r.srcPrefix = rest[i+1]
			i += 2
		}
		if !kw(i, "WITH") || i+1 >= len(rest) {
			return nil, fmt.Errorf("rule %q: want MATCH <pattern> [IN <prefix>] WITH (MATERIALS|PRODUCTS) [IN <prefix>] FROM <step>", raw)
		}
		switch strings.ToLower(rest[i+1]) {
		case materialsKind:
			r.dstKind = materialsKind
		case productsKind:
			r.dstKind = productsKind
		default:
			return nil, fmt.Errorf("rule %q: WITH %q: want MATERIALS or PRODUCTS", raw, rest[i+1])
		}
		i += 2
		if kw(i, "IN") {
			if i+1 >= len(rest) {
				return nil, fmt.Errorf("rule %q: IN without a prefix", raw)
			}
			r.dstPrefix = rest[i+1]
			i += 2
		}
		if !kw(i, "FROM") || i+2 != len(rest) || rest[i+1] == "" {
			return nil, fmt.Errorf("rule %q: want ... FROM <step> at the end", raw)
		}
		r.dstStep = rest[i+1]
		r.srcPrefix, r.dstPrefix = dirPrefix(r.srcPrefix), dirPrefix(r.dstPrefix)
	default:
		return nil, fmt.Errorf("rule %q: unknown rule type %q (want MATCH, ALLOW, DISALLOW, CREATE, DELETE, MODIFY or REQUIRE)", raw, raw[0])
	}
	m, err := compileGlob(r.pattern)
	if err != nil {
		return nil, fmt.Errorf("rule %q: %w", raw, err)
	}
	r.m = m
	return r, nil
}

// dirPrefix returns p with one trailing slash, as in-toto joins prefixes
// (os.path.join(prefix, "")); empty stays empty.
func dirPrefix(p string) string {
	if p == "" || strings.HasSuffix(p, "/") {
		return p
	}
	return p + "/"
}

// matcher is a compiled glob with the semantics of Python's fnmatch (which
// the in-toto reference uses): '*' matches any run of characters, '/'
// included; '?' one character; [seq] and [!seq] a character class.
type matcher struct {
	kind   int // matchExact, matchAll, matchPrefix, matchSuffix, matchRE
	lit    string
	re     *regexp.Regexp
	source string
	// prefix is the pattern's literal start (up to its first wildcard):
	// every name it matches starts with it.
	prefix string
}

const (
	matchExact = iota
	matchAll
	matchPrefix
	matchSuffix
	matchRE
)

func (m matcher) match(s string) bool {
	switch m.kind {
	case matchExact:
		return s == m.lit
	case matchAll:
		return true
	case matchPrefix:
		return strings.HasPrefix(s, m.lit)
	case matchSuffix:
		return strings.HasSuffix(s, m.lit)
	}
	return m.re.MatchString(s)
}

// literal reports whether the pattern matches exactly one name.
func (m matcher) literal() bool { return m.kind == matchExact }

// compileGlob compiles an fnmatch pattern. Simple shapes (a literal, "*",
// "prefix*", "*suffix") skip the regular expression.
func compileGlob(pattern string) (matcher, error) {
	m := matcher{source: pattern}
	if i := strings.IndexAny(pattern, "*?["); i >= 0 {
		m.prefix = pattern[:i]
	} else {
		m.prefix = pattern
	}
	if !strings.ContainsAny(pattern, "*?[") {
		m.kind, m.lit = matchExact, pattern
		return m, nil
	}
	if strings.Trim(pattern, "*") == "" {
		m.kind = matchAll
		return m, nil
	}
	if !strings.ContainsAny(pattern, "?[") {
		inner := strings.Trim(pattern, "*")
		if !strings.Contains(inner, "*") {
			switch {
			case !strings.HasPrefix(pattern, "*"):
				if strings.HasSuffix(pattern, "*") {
					m.kind, m.lit = matchPrefix, inner
					return m, nil
				}
			case !strings.HasSuffix(pattern, "*"):
				m.kind, m.lit = matchSuffix, inner
				return m, nil
			}
		}
	}
	re, err := regexp.Compile(translateGlob(pattern))
	if err != nil {
		return m, fmt.Errorf("pattern %q: %v", pattern, err)
	}
	m.kind, m.re = matchRE, re
	return m, nil
}

// translateGlob is Python's fnmatch.translate, for Go's regexp.
func translateGlob(pat string) string {
	var b strings.Builder
	b.WriteString(`^(?s:`)
	rs := []rune(pat)
	n := len(rs)
	for i := 0; i < n; {
		c := rs[i]
		i++
		switch c {
		case '*':
			for i < n && rs[i] == '*' {
				i++
			}
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		case '[':
			j := i
			if j < n && rs[j] == '!' {
				j++
			}
			if j < n && rs[j] == ']' {
				j++
			}
			for j < n && rs[j] != ']' {
				j++
			}
			if j >= n {
				b.WriteString(`\[`)
				continue
			}
			stuff := rs[i:j]
			i = j + 1
			var cls strings.Builder
			for k, r := range stuff {
				switch {
				case k == 0 && r == '!':
					cls.WriteRune('^')
				case r == '\\' || r == '[' || r == ']' || (k == 0 && r == '^'):
					cls.WriteRune('\\')
					cls.WriteRune(r)
				default:
					cls.WriteRune(r)
				}
			}
			b.WriteString("[" + cls.String() + "]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`)$`)
	return b.String()
}

// artifact is an artifact of a step record: its name and its digests in
// a canonical form ("alg:hex,alg:hex", sorted), so two artifacts are the
// same when their strings are equal (in-toto compares the hash
// dictionaries).
type artifact struct {
	name, digest string
}

// artifactSet is the materials or products of one step record, sorted by
// name, each name once. Sorted sets let the rules visit only the names a
// pattern's literal prefix selects, and MATCH walk two sets side by side
// instead of looking every name up in a map.
type artifactSet []artifact

// stepArtifacts are one step's materials and products.
type stepArtifacts struct {
	materials, products artifactSet
}

func (s *stepArtifacts) kind(k string) artifactSet {
	if k == materialsKind {
		return s.materials
	}
	return s.products
}

// find returns the index of name in the set.
func (set artifactSet) find(name string) (int, bool) {
	return slices.BinarySearchFunc(set, name, func(a artifact, name string) int { return strings.Compare(a.name, name) })
}

// withPrefix returns the range of the set whose names start with prefix.
func (set artifactSet) withPrefix(prefix string) (lo, hi int) {
	if prefix == "" {
		return 0, len(set)
	}
	lo, _ = set.find(prefix)
	hi = lo + sort.Search(len(set)-lo, func(i int) bool { return !strings.HasPrefix(set[lo+i].name, prefix) })
	return lo, hi
}

// seeker looks names up in a set in increasing order: each search starts
// where the last ended (galloping), so a walk over a whole set costs
// linear time, and a few scattered look-ups logarithmic time each. The
// names compared are the set's past their first strip bytes.
type seeker struct {
	set   artifactSet
	strip int
	next  int
}

// find returns the artifact whose name (past strip) is key; keys must
// come in increasing order.
func (k *seeker) find(key string) (artifact, bool) {
	set, lo := k.set, k.next
	hi, step := lo, 1
	for hi < len(set) && set[hi].name[k.strip:] < key {
		lo, hi, step = hi+1, hi+step, step*2
	}
	hi = min(hi+1, len(set))
	i, ok := slices.BinarySearchFunc(set[lo:hi], key, func(a artifact, key string) int { return strings.Compare(a.name[k.strip:], key) })
	k.next = lo + i
	if !ok {
		return artifact{}, false
	}
	return set[k.next], true
}

// applyRules applies rules to the srcKind artifacts (materialsKind or
// productsKind) of the step step, as the in-toto reference does: every
// artifact starts in a queue, each rule consumes the queued artifacts it
// authorizes, DISALLOW fails if it matches a queued artifact, REQUIRE if
// its file is not queued. It returns the first failure, nil if none; steps
// holds the other steps' artifacts for MATCH (a missing one matches
// nothing).
//
// Each rule visits only the names that start with its pattern's literal
// prefix (all of them for "*"), in order, and looks names up in other
// sets with a seeker: a step costs O(rules × artifacts), no more.
func applyRules(rules []*rule, step string, srcKind string, steps map[string]*stepArtifacts) error {
	src := steps[step]
	artifacts := src.kind(srcKind)
	other := src.materials // the set CREATE, DELETE and MODIFY compare with
	if srcKind == materialsKind {
		other = src.products
	}
	queued := make([]bool, len(artifacts))
	for i := range queued {
		queued[i] = true
	}
	left := len(artifacts)
	consume := func(i int) {
		queued[i] = false
		left--
	}
	// each calls f with the index and the name (past prefix) of every
	// queued artifact whose name is prefix followed by a name m matches.
	each := func(prefix string, m matcher, f func(i int, rel string)) {
		var lo, hi int
		if m.literal() {
			if i, ok := artifacts.find(prefix + m.lit); ok {
				lo, hi = i, i+1
			}
		} else {
			lo, hi = artifacts.withPrefix(prefix + m.prefix)
		}
		for i := lo; i < hi; i++ {
			if rel := artifacts[i].name[len(prefix):]; queued[i] && m.match(rel) {
				f(i, rel)
			}
		}
	}
	for _, r := range rules {
		if left == 0 && r.typ != RuleRequire {
			continue
		}
		switch r.typ {
		case RuleDisallow:
			var hit []string
			each("", r.m, func(i int, name string) { hit = append(hit, name) })
			if len(hit) > 0 {
				return fmt.Errorf("%s %s disallowed by rule %q", srcKind, listSome(hit), r.String())
			}
		case RuleRequire:
			if i, ok := artifacts.find(r.pattern); !ok || !queued[i] {
				return fmt.Errorf("rule %q: %s %q not found among the unconsumed %s", r.String(), srcKind, r.pattern, srcKind)
			}
		case RuleAllow:
			each("", r.m, func(i int, _ string) { consume(i) })
		case RuleCreate, RuleDelete, RuleModify:
			seek := seeker{set: other}
			each("", r.m, func(i int, name string) {
				o, inOther := seek.find(name)
				switch r.typ {
				case RuleCreate: // in the products only
					if srcKind == productsKind && !inOther {
						consume(i)
					}
				case RuleDelete: // in the materials only
					if srcKind == materialsKind && !inOther {
						consume(i)
					}
				default: // in both, with other digests
					if inOther && o.digest != artifacts[i].digest {
						consume(i)
					}
				}
			})
		case RuleMatch:
			dst, ok := steps[r.dstStep]
			if !ok {
				continue
			}
			// The destination names are dstPrefix+rel, in the order
			// of the source names.
			dstArtifacts := dst.kind(r.dstKind)
			lo, hi := dstArtifacts.withPrefix(r.dstPrefix)
			seek := seeker{set: dstArtifacts[lo:hi], strip: len(r.dstPrefix)}
			each(r.srcPrefix, r.m, func(i int, rel string) {
				if d, ok := seek.find(rel); ok && d.digest == artifacts[i].digest {
					consume(i)
				}
			})
		}
	}
	return nil
}

// listSome formats up to 10 names, sorted.
func listSome(names []string) string {
	sort.Strings(names)
	if len(names) > 10 {
		return fmt.Sprintf("%q and %d more", names[:10], len(names)-10)
	}
	return fmt.Sprintf("%q", names)
}

func quote(s string) string { return fmt.Sprintf("%q", s) }
