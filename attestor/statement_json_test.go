package attestor

import (
	"testing"
	"time"

	ita1 "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/proto"
)

// TestMarshalStatementMatchesProto checks the direct encoding against the
// protobuf one: both parse to the same statement.
func TestMarshalStatementMatchesProto(t *testing.T) {
	t.Parallel()
	rd := func(name, hex string) *ita1.ResourceDescriptor {
		return &ita1.ResourceDescriptor{Name: name, Digest: map[string]string{"sha256": hex}}
	}
	const h1 = "348f00589310c0064aa697c0d81e73a12bb3bee89d5b99b0ad67437177854e32"
	const h2 = "55a60bb97151b2b4b680462447ce60ec34511b14fa10d77440c97b9777101566"
	code, fail := 0, 137
	when := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	cases := map[string]*Record{
		"products and materials": {Step: "build", Command: []string{"go", "build", "<&>"},
			Materials: []*ita1.ResourceDescriptor{rd("a.go", h1)}, Products: []*ita1.ResourceDescriptor{rd("bin/app", h2)},
			ExitCode: &code, Stdout: "ok\n", StartedOn: when, FinishedOn: when.Add(time.Second)},
		"no products": {Step: "test", Materials: []*ita1.ResourceDescriptor{rd("a.go", h1), rd("b.go", h2)},
			ExitCode: &fail, Stderr: "bad utf-8: \xff\xfe", StderrTruncated: true},
		"no command": {Step: "checkout", Products: []*ita1.ResourceDescriptor{rd("src/x", h1)}},
		"ci facts": {Step: "ci", Products: []*ita1.ResourceDescriptor{rd("x", h1)},
			CI: map[string]any{"platform": "github", "runAttempt": int64(3), "nested": map[string]any{"dirty": true, "list": []any{"a", int64(1)}}}},
		"two algorithms": {Step: "multi", Products: []*ita1.ResourceDescriptor{{Name: "x", Digest: map[string]string{
			"sha256": h1, "sha512": h1 + h1}}}},
		"descriptor with uri (protobuf path)": {Step: "img", Products: []*ita1.ResourceDescriptor{{Name: "app", Uri: "oci://r/app", Digest: map[string]string{"sha256": h2}}}},
	}
	for name, rec := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fast, err := rec.MarshalStatement()
			if err != nil {
				t.Fatalf("MarshalStatement: %v", err)
			}
			st, err := rec.Statement()
			if err != nil {
				t.Fatalf("Statement: %v", err)
			}
			slow, err := MarshalStatement(st)
			if err != nil {
				t.Fatalf("MarshalStatement(proto): %v", err)
			}
			fastSt, err := ParseStatement(fast)
			if err != nil {
				t.Fatalf("parsing the direct encoding: %v\n%s", err, fast)
			}
			slowSt, err := ParseStatement(slow)
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(fastSt, slowSt) {
				t.Errorf("statements differ:\ndirect:   %s\nprotobuf: %s", fast, slow)
			}
			if string(fast) != string(slow) {
				t.Logf("encodings differ in bytes (allowed, both parse equal):\ndirect:   %s\nprotobuf: %s", fast, slow)
			}
		})
	}
}

func BenchmarkMarshalStatement(b *testing.B) {
	const n = 20000
	rec := &Record{Step: "bench"}
	for i := 0; i < n; i++ {
		d := map[string]string{"sha256": "348f00589310c0064aa697c0d81e73a12bb3bee89d5b99b0ad67437177854e32"}
		name := "dir/sub/file-" + string(rune('a'+i%26)) + "-" + time.Duration(i).String()
		rec.Materials = append(rec.Materials, &ita1.ResourceDescriptor{Name: name, Digest: d})
		rec.Products = append(rec.Products, &ita1.ResourceDescriptor{Name: name, Digest: d})
	}
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := rec.MarshalStatement(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("protobuf", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			st, err := rec.Statement()
			if err != nil {
				b.Fatal(err)
			}
			if _, err := MarshalStatement(st); err != nil {
				b.Fatal(err)
			}
		}
	})
}
