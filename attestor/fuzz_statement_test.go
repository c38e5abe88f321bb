package attestor

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"

	"github.com/google/go-cmp/cmp"
	ita1 "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
)

// addGolden seeds f with the golden files named.
func addGolden(f *testing.F, names ...string) {
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join("testdata", "golden", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// FuzzParseStatement: ParseStatement never panics; a statement it accepts
// marshals (MarshalStatement) to bytes that parse to an equal statement,
// and marshals the same way twice. A link statement that RecordFromStatement
// accepts round-trips through Record.Statement and Record.MarshalStatement
// (the direct encoder) to the same record.
func FuzzParseStatement(f *testing.F) {
	addGolden(f, "build.statement.json", "statement.json")
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"00"}}],"predicateType":"x","predicate":{}}`))
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"00"}}],"predicateType":"` + envelope.PredicateTypeLink + `","predicate":{"name":"s","byproducts":{"return-value":1.5,"stdout":"x"},"environment":{"startedOn":"2026-01-01T00:00:00Z"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := envelope.ParseStatement(data)
		if err != nil {
			return
		}
		out, err := envelope.MarshalStatement(st)
		if err != nil {
			t.Fatalf("MarshalStatement of a parsed statement: %v", err)
		}
		st2, err := envelope.ParseStatement(out)
		if err != nil {
			t.Fatalf("the marshalled statement does not parse: %v\n%s", err, out)
		}
		if !proto.Equal(st, st2) {
			t.Fatalf("parse → marshal → parse changed the statement:\n%s\n%s", data, out)
		}
		out2, _ := envelope.MarshalStatement(st2)
		if string(out) != string(out2) {
			t.Fatalf("MarshalStatement is not stable:\n%s\n%s", out, out2)
		}
		rec, err := RecordFromStatement(st)
		if err != nil {
			return
		}
		checkRecordRoundTrip(t, rec)
	})
}

// checkRecordRoundTrip: a record's statement, both encodings, parses back
// to the same record; the two encodings parse to equal statements.
func checkRecordRoundTrip(t *testing.T, rec *Record) {
	t.Helper()
	var slow []byte
	st, slowErr := rec.Statement()
	if slowErr == nil {
		slow, slowErr = envelope.MarshalStatement(st)
	}
	fast, fastErr := rec.MarshalStatement()
	if (slowErr == nil) != (fastErr == nil) {
		t.Fatalf("the protobuf and direct encodings disagree: %v / %v\nrecord %+v", slowErr, fastErr, rec)
	}
	if slowErr != nil {
		return
	}
	fastSt, err := envelope.ParseStatement(fast)
	if err != nil {
		t.Fatalf("the direct encoding does not parse: %v\n%s", err, fast)
	}
	slowSt, err := envelope.ParseStatement(slow)
	if err != nil {
		t.Fatalf("the protobuf encoding does not parse: %v\n%s", err, slow)
	}
	if d := cmp.Diff(slowSt, fastSt, protocmp.Transform()); d != "" {
		t.Fatalf("direct and protobuf encodings differ (-protobuf +direct):\n%s", d)
	}
	back, err := RecordFromStatement(fastSt)
	if err != nil {
		t.Fatalf("RecordFromStatement of a record's own statement: %v\n%s", err, fast)
	}
	want := normalizeRecord(rec)
	if d := cmp.Diff(want, normalizeRecord(back), protocmp.Transform()); d != "" {
		t.Fatalf("record → statement → record changed it (-want +got):\n%s\n%s", d, fast)
	}
}

// normalizeRecord is rec as a statement can carry it: output as valid
// UTF-8, times at second precision in UTC, no empty slices, CI facts as
// JSON would decode them.
func normalizeRecord(rec *Record) *Record {
	r := *rec
	r.Stdout = strings.ToValidUTF8(r.Stdout, "\uFFFD")
	r.Stderr = strings.ToValidUTF8(r.Stderr, "\uFFFD")
	if r.ExitCode == nil {
		r.Stdout, r.Stderr, r.StdoutTruncated, r.StderrTruncated = "", "", false, false
	}
	r.StartedOn = r.StartedOn.UTC().Truncate(time.Second)
	r.FinishedOn = r.FinishedOn.UTC().Truncate(time.Second)
	if len(r.Command) == 0 {
		r.Command = nil
	}
	if len(r.Materials) == 0 {
		r.Materials = nil
	}
	if len(r.Products) == 0 {
		r.Products = nil
	}
	if len(r.CI) == 0 {
		r.CI = nil
	} else {
		data, _ := json.Marshal(r.CI)
		r.CI = nil
		json.Unmarshal(data, &r.CI)
	}
	return &r
}

// FuzzRecordStatement builds records from fuzzed fields — the step's
// name, command, files, digests, output — and checks the round trip and
// that the direct encoder (Record.MarshalStatement, what is signed) and
// the protobuf one (Record.Statement) agree on every record.
func FuzzRecordStatement(f *testing.F) {
	const h = "348f00589310c0064aa697c0d81e73a12bb3bee89d5b99b0ad67437177854e32"
	f.Add("build", "go", "build <&>", "src/a.go", "bin/app", h, "ok\n", "", 0, false, int64(1764000000))
	f.Add("test", "sh", "-c", "a.go", "", h, "", "bad utf-8: \xff\xfe", 137, true, int64(0))
	f.Add("x.y_z-1", "", "", "", "out", "", "\x00", "\u2028", -1, false, int64(-1))
	f.Add("s", "cmd", "\xff", "a", "b", "ABCDEF", "x", "y", 1, true, int64(253402300799))
	f.Fuzz(func(t *testing.T, step, cmd0, cmd1, material, product, hex, stdout, stderr string, code int, truncated bool, unix int64) {
		rd := func(name string) []*ita1.ResourceDescriptor {
			if name == "" {
				return nil
			}
			return []*ita1.ResourceDescriptor{{Name: name, Digest: map[string]string{"sha256": hex}}}
		}
		rec := &Record{Step: step, Materials: rd(material), Products: rd(product)}
		if cmd0 != "" || cmd1 != "" {
			rec.Command = []string{cmd0, cmd1}
		}
		if code >= 0 {
			c := code % 256
			rec.ExitCode = &c
			rec.Stdout, rec.Stderr = stdout, stderr
			rec.StdoutTruncated, rec.StderrTruncated = truncated, !truncated
		}
		if unix > -62135596800 && unix < 253402300800 { // years 1..9999
			rec.StartedOn = time.Unix(unix, 0)
			rec.FinishedOn = rec.StartedOn.Add(time.Second)
		}
		if truncated {
			rec.CI = map[string]any{"platform": cmd0, "attempt": int64(code), "nested": map[string]any{"k": stdout}}
		}
		checkRecordRoundTrip(t, rec)
	})
}

// TestMarshalStatementInvalidUTF8 is the regression case of the first
// failure FuzzRecordStatement found (testdata/fuzz/FuzzRecordStatement):
// the direct encoder signed a command whose bytes are not UTF-8 with them
// replaced by U+FFFD (encoding/json does so silently), a record of a
// command other than the one that ran; the protobuf encoding refuses it.
// Both must refuse it, whatever field holds the bytes.
func TestMarshalStatementInvalidUTF8(t *testing.T) {
	t.Parallel()
	const h = "348f00589310c0064aa697c0d81e73a12bb3bee89d5b99b0ad67437177854e32"
	rd := func(name string) []*ita1.ResourceDescriptor {
		return []*ita1.ResourceDescriptor{{Name: name, Digest: map[string]string{"sha256": h}}}
	}
	for name, rec := range map[string]*Record{
		"command":  {Step: "build", Command: []string{"sh", "-c", "echo \x93"}, Products: rd("app")},
		"CI facts": {Step: "build", Products: rd("app"), CI: map[string]any{"ref": "refs/heads/\xff", "nested": map[string]any{"k": []any{"\xfe"}}}},
		"product":  {Step: "build", Products: rd("bin/\xff")},
		"material": {Step: "build", Materials: rd("src/\xff"), Products: rd("app")},
	} {
		if st, err := rec.Statement(); err == nil {
			if _, err := envelope.MarshalStatement(st); err == nil {
				t.Errorf("%s: the protobuf encoding accepted bytes that are not UTF-8", name)
			}
		}
		if data, err := rec.MarshalStatement(); err == nil {
			t.Errorf("%s: MarshalStatement accepted bytes that are not UTF-8: %s", name, data)
		} else if !errors.Is(err, fault.ErrInvalidInput) {
			t.Errorf("%s: MarshalStatement: %v, want an error matching fault.ErrInvalidInput (exit 2)", name, err)
		}
	}
}
