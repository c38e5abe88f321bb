package gate

import (
	"encoding/json"
	"testing"
)

// TestGlob: patterns match as Python's fnmatch (the in-toto reference).
func TestGlob(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		pattern, name string
		want          bool
	}{
		{"*", "a/b/c", true},
		{"src/*", "src/a/b.c", true},
		{"src/*", "srcx", false},
		{"*.c", "a/b.c", true},
		{"*.c", "a/b.h", false},
		{"a?c", "abc", true},
		{"a?c", "a/c", true},
		{"a?c", "abbc", false},
		{"[ab]x", "bx", true},
		{"[!ab]x", "bx", false},
		{"[!ab]x", "cx", true},
		{"[a-c]", "b", true},
		{"[]]", "]", true},
		{"[", "[", true},
		{"a[", "a[", true},
		{"a.b", "axb", false},
		{"dist/app", "dist/app", true},
		{"dist/app", "dist/app2", false},
		{"*app*", "dist/app.tar", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY", false},
		{"\\*", "\\x", true},
		{"é?", "éü", true},
	} {
		m, err := compileGlob(tt.pattern)
		if err != nil {
			t.Errorf("%q: %v", tt.pattern, err)
			continue
		}
		if got := m.match(tt.name); got != tt.want {
			t.Errorf("%q matches %q = %v, want %v (%s)", tt.pattern, tt.name, got, tt.want, translateGlob(tt.pattern))
		}
	}
}

func TestParseRule(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		raw []string
		ok  bool
	}{
		{[]string{"MATCH", "*", "WITH", "PRODUCTS", "FROM", "a"}, true},
		{[]string{"match", "*", "in", "x", "with", "materials", "in", "y", "from", "a"}, true},
		{[]string{"MATCH", "*", "WITH", "PRODUCTS"}, false},
		{[]string{"MATCH", "*", "IN", "WITH", "PRODUCTS", "FROM", "a"}, false},
		{[]string{"MATCH", "*", "WITH", "PRODUCTS", "FROM", "a", "extra"}, false},
		{[]string{"CREATE", "x"}, true},
		{[]string{"CREATE"}, false},
		{[]string{"CREATE", ""}, false},
		{[]string{"REQUIRE", "x", "y"}, false},
		{[]string{"FOO", "x"}, false},
		{nil, false},
	} {
		_, err := parseRule(tt.raw)
		if (err == nil) != tt.ok {
			t.Errorf("parseRule(%q): %v", tt.raw, err)
		}
	}
}

func TestDigestSet(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in, want string
		bad      bool
	}{
		{`{"sha256":"ab"}`, "sha256:ab", false},
		{`{"sha512":"cd","sha256":"ab"}`, "sha256:ab,sha512:cd", false},
		{`{ "sha256" : "ab" }`, "sha256:ab", false},
		{`{"sha256":"a\u0062"}`, "sha256:ab", false},
		{`{"a":"1,b:2"}`, "", true},
		{`{"a:b":"1"}`, "", true},
		{`[]`, "", true},
	} {
		var d digestSet
		err := json.Unmarshal([]byte(tt.in), &d)
		if (err != nil) != tt.bad || string(d) != tt.want {
			t.Errorf("%s: %q, %v", tt.in, d, err)
		}
	}
	if d := digestSet("sha256:ab,sha512:cd"); !d.Has("sha512", "cd") || d.Has("sha256", "cd") {
		t.Errorf("has")
	}
}
