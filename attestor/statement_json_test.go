package attestor

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/attestor/attestor/attestor/envelope"
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
			slow, err := envelope.MarshalStatement(st)
			if err != nil {
				t.Fatalf("envelope.MarshalStatement(proto): %v", err)
			}
			fastSt, err := envelope.ParseStatement(fast)
			if err != nil {
				t.Fatalf("parsing the direct encoding: %v\n%s", err, fast)
			}
			slowSt, err := envelope.ParseStatement(slow)
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
			if _, err := envelope.MarshalStatement(st); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// referenceStatement is the statement as encoding/json writes it from
// structs (without HTML escaping): what the hand-written encoder must
// produce byte for byte.
func referenceStatement(t testing.TB, r *Record) []byte {
	t.Helper()
	type desc struct {
		Name   string            `json:"name,omitempty"`
		Digest map[string]string `json:"digest,omitempty"`
	}
	type mat struct {
		Digest map[string]string `json:"digest,omitempty"`
		Name   string            `json:"name,omitempty"`
	}
	type link struct {
		Byproducts  map[string]any `json:"byproducts"`
		Command     []string       `json:"command,omitempty"`
		Environment map[string]any `json:"environment"`
		Materials   []mat          `json:"materials,omitempty"`
		Name        string         `json:"name"`
	}
	type statement struct {
		Type          string `json:"_type"`
		Subject       []desc `json:"subject"`
		PredicateType string `json:"predicateType"`
		Predicate     link   `json:"predicate"`
	}
	subjects, by, err := r.statementParts()
	if err != nil {
		t.Fatal(err)
	}
	st := statement{Type: ita1.StatementTypeUri, PredicateType: envelope.PredicateTypeLink,
		Predicate: link{Byproducts: by, Command: r.Command, Environment: r.environment(), Name: r.Step}}
	for _, s := range subjects {
		st.Subject = append(st.Subject, desc{Name: s.GetName(), Digest: s.GetDigest()})
	}
	for _, m := range r.Materials {
		st.Predicate.Materials = append(st.Predicate.Materials, mat{Digest: m.GetDigest(), Name: m.GetName()})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(st); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// TestMarshalStatementBytes checks the hand-written encoder against
// encoding/json on names that need escaping.
func TestMarshalStatementBytes(t *testing.T) {
	t.Parallel()
	const h = "348f00589310c0064aa697c0d81e73a12bb3bee89d5b99b0ad67437177854e32"
	code := 2
	names := []string{"plain/file.go", `quote"d`, `back\slash`, "tab\tnew\nline\r", "ctl\x01\x1f\x7f",
		"<html>&amp;", "utf-8 é 日本", "line sep \u2028 para \u2029", "\b\f"}
	for _, name := range names {
		rec := &Record{Step: "s", Command: []string{"echo", name}, ExitCode: &code, Stdout: name,
			Materials: []*ita1.ResourceDescriptor{{Name: name, Digest: map[string]string{"sha256": h}}},
			Products:  []*ita1.ResourceDescriptor{{Name: name, Digest: map[string]string{"sha256": h, "sha512": h + h}}},
			CI:        map[string]any{"ref": name}}
		got, err := rec.MarshalStatement()
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if want := referenceStatement(t, rec); !bytes.Equal(got, want) {
			t.Errorf("%q:\ngot  %s\nwant %s", name, got, want)
		}
	}
}

// FuzzMarshalStatementBytes: the hand-written encoder writes what
// encoding/json writes, for any valid UTF-8 names and digests.
func FuzzMarshalStatementBytes(f *testing.F) {
	f.Add("src/a.go", "abc", "make")
	f.Add("\u2028\"\\", "\x00", "<&>")
	f.Fuzz(func(t *testing.T, name, digest, arg string) {
		if !utf8.ValidString(name) || !utf8.ValidString(digest) || !utf8.ValidString(arg) || name == "" || digest == "" {
			t.Skip()
		}
		rec := &Record{Step: "s", Command: []string{arg},
			Materials: []*ita1.ResourceDescriptor{{Name: name, Digest: map[string]string{"sha384": digest}}}}
		subjects, by, err := rec.statementParts()
		if err != nil {
			t.Skip()
		}
		subj, _ := compactDescriptors(subjects)
		mats, _ := compactDescriptors(rec.Materials)
		got, err := rec.appendStatement(nil, by, subj, mats)
		if err != nil {
			t.Fatal(err)
		}
		if want := referenceStatement(t, rec); !bytes.Equal(got, want) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	})
}

// jsonSpecial finds every byte that needs a look, at every position.
func TestJSONSpecial(t *testing.T) {
	t.Parallel()
	for b := 0; b < 256; b++ {
		want := b < 0x20 || b == '"' || b == '\\' || b >= 0x80
		for pos := range 8 {
			word := []byte("azAZ09/.")
			word[pos] = byte(b)
			if got := jsonSpecial(binary.LittleEndian.Uint64(word)); got != want {
				t.Errorf("byte %#x at %d: %v, want %v", b, pos, got, want)
			}
		}
	}
}
