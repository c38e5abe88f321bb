package gate

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// applyRulesNaive is applyRules as the in-toto reference writes it: a
// queue of names, every rule checking every queued name, map look-ups.
// TestApplyRulesNaive checks that applyRules (sorted sets, prefix
// ranges, seekers) agrees with it.
func applyRulesNaive(rules []*rule, step string, srcKind string, steps map[string]*stepArtifacts) error {
	asMap := func(set artifactSet) map[string]string {
		m := map[string]string{}
		for _, a := range set {
			m[a.name] = a.digest
		}
		return m
	}
	src := steps[step]
	materials, products := asMap(src.materials), asMap(src.products)
	artifacts := asMap(src.kind(srcKind))
	queue := maps(artifacts)
	for _, r := range rules {
		if len(queue) == 0 && r.typ != RuleRequire {
			continue
		}
		var matched []string
		for name := range queue {
			if r.m.match(name) {
				matched = append(matched, name)
			}
		}
		switch r.typ {
		case RuleDisallow:
			if len(matched) > 0 {
				return fmt.Errorf("%s %s disallowed by rule %q", srcKind, listSome(matched), r.String())
			}
		case RuleRequire:
			if !queue[r.pattern] {
				return fmt.Errorf("rule %q: %s %q not found among the unconsumed %s", r.String(), srcKind, r.pattern, srcKind)
			}
		case RuleAllow, RuleCreate, RuleDelete, RuleModify:
			for _, name := range matched {
				m, inM := materials[name]
				p, inP := products[name]
				if r.typ == RuleAllow || r.typ == RuleCreate && !inM && inP || r.typ == RuleDelete && inM && !inP || r.typ == RuleModify && inM && inP && m != p {
					delete(queue, name)
				}
			}
		case RuleMatch:
			dst, ok := steps[r.dstStep]
			if !ok {
				continue
			}
			dstArtifacts := asMap(dst.kind(r.dstKind))
			for name := range queue {
				rel, ok := strings.CutPrefix(name, r.srcPrefix)
				if !ok || !r.m.match(rel) {
					continue
				}
				if d, ok := dstArtifacts[r.dstPrefix+rel]; ok && d == artifacts[name] {
					delete(queue, name)
				}
			}
		}
	}
	return nil
}

func maps(m map[string]string) map[string]bool {
	q := map[string]bool{}
	for k := range m {
		q[k] = true
	}
	return q
}

// TestApplyRulesNaive applies random rules to random artifacts with both.
func TestApplyRulesNaive(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewPCG(1, 2))
	parts := []string{"a", "b", "ab", "a/", "b/", "src/", "x.go", "é", "a.", ""}
	name := func() string {
		var b strings.Builder
		for range 1 + rnd.IntN(3) {
			b.WriteString(parts[rnd.IntN(len(parts))])
		}
		return b.String()
	}
	set := func() artifactSet {
		var rds []descriptor
		for range rnd.IntN(30) {
			rds = append(rds, descriptor{Name: name(), Digest: digestSet(fmt.Sprint("sha256:", rnd.IntN(3)))})
		}
		return artifactsOf(rds)
	}
	patterns := []string{"*", "a*", "*b", "a?", "[ab]*", "src/*", "src/*.go", "a/b", "ab", "a*b*", "*a/*", "x.go", "é*"}
	prefixes := []string{"", "a", "a/", "src/", "b"}
	steps := []string{"s0", "s1", "s2"}
	for i := range 5000 {
		chain := map[string]*stepArtifacts{}
		for _, s := range steps {
			chain[s] = &stepArtifacts{materials: set(), products: set()}
			if rnd.IntN(2) == 0 { // products overlapping materials
				chain[s].products = append(slices.Clone(chain[s].materials), chain[s].products...)
				slices.SortStableFunc(chain[s].products, func(a, b artifact) int { return strings.Compare(a.name, b.name) })
				chain[s].products = slices.CompactFunc(chain[s].products, func(a, b artifact) bool { return a.name == b.name })
			}
		}
		var rules []*rule
		for range 1 + rnd.IntN(4) {
			pat := patterns[rnd.IntN(len(patterns))]
			var raw []string
			switch typ := []string{RuleMatch, RuleAllow, RuleDisallow, RuleCreate, RuleDelete, RuleModify, RuleRequire}[rnd.IntN(7)]; typ {
			case RuleMatch:
				raw = []string{typ, pat}
				if p := prefixes[rnd.IntN(len(prefixes))]; p != "" {
					raw = append(raw, "IN", p)
				}
				raw = append(raw, "WITH", []string{"MATERIALS", "PRODUCTS"}[rnd.IntN(2)])
				if p := prefixes[rnd.IntN(len(prefixes))]; p != "" {
					raw = append(raw, "IN", p)
				}
				raw = append(raw, "FROM", steps[rnd.IntN(len(steps))])
			default:
				raw = []string{typ, pat}
			}
			r, err := parseRule(raw)
			if err != nil {
				t.Fatal(err)
			}
			rules = append(rules, r)
		}
		// The error of a final DISALLOW lists what is left in the queue.
		if last, err := parseRule([]string{RuleDisallow, "*"}); err == nil && rnd.IntN(4) > 0 {
			rules = append(rules, last)
		}
		kind := []string{materialsKind, productsKind}[rnd.IntN(2)]
		got, want := applyRules(rules, "s1", kind, chain), applyRulesNaive(rules, "s1", kind, chain)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("case %d: %s of %+v with %q:\ngot  %v\nwant %v", i, kind, chain["s1"], rules, got, want)
		}
	}
}
