package attestor_test

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	ita1 "github.com/in-toto/attestation/go/v1"
	"github.com/in-toto/in-toto-golang/in_toto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/attestor/attestor/attestor"
	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/workspace"
)

// updating reports whether golden files are to be rewritten (go test
// ./attestor -update). The flag is declared once for the package's test
// binary, in flags_test.go; it is looked up by name because that file
// belongs to the internal test package.
func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// golden compares got with testdata/golden/name, or rewrites the file with
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if updating() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (regenerate with go test ./attestor -update): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs from the golden file (-want +got; regenerate with -update if the change is intended):\n%s", path, diff)
	}
}

// recordCmp compares records: protos by value, times by instant, nil and
// empty slices and maps alike.
var recordCmp = cmp.Options{protocmp.Transform(), cmpopts.EquateEmpty()}

var (
	t0 = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
	t1 = t0.Add(2*time.Minute + 7*time.Second)
)

func rd(name, sha256 string) *ita1.ResourceDescriptor {
	return &ita1.ResourceDescriptor{Name: name, Digest: map[string]string{"sha256": sha256}}
}

const (
	digestGoMod  = "1b4f0e9851971998e732078544c96b36c3d01cedf7caa332359d6f1d83567014"
	digestMainGo = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
	digestApp    = "fd61a03af4f77d870fc21e05e7e80678095c92d808cfb3b5c279ee04c74aca13"
)

func intp(i int) *int { return &i }

// sampleRecord is a full record: every field set.
func sampleRecord() *attestor.Record {
	return &attestor.Record{
		Step:      "build",
		Command:   []string{"go", "build", "-o", "bin/app", "./src"},
		Materials: []*ita1.ResourceDescriptor{rd("go.mod", digestGoMod), rd("src/main.go", digestMainGo)},
		Products:  []*ita1.ResourceDescriptor{rd("bin/app", digestApp)},
		ExitCode:  intp(0),
		Stdout:    "built bin/app\n",
		Stderr:    "warning: <nothing> & \"quoted\"\n",
		CI: map[string]any{
			"platform": "github-actions",
			"runId":    "4242",
			"attempt":  float64(2), // JSON numbers come back as float64
			"rerun":    true,
			"repo":     map[string]any{"name": "acme/app", "ref": "refs/heads/main"},
		},
		StartedOn:  t0,
		FinishedOn: t1,
	}
}

func TestRecordStatementRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rec  func() *attestor.Record
	}{
		{"full", sampleRecord},
		{"no products: materials are the subjects", func() *attestor.Record {
			r := sampleRecord()
			r.Products = nil
			return r
		}},
		{"no materials", func() *attestor.Record {
			r := sampleRecord()
			r.Materials = nil
			return r
		}},
		{"record start/stop: no command ran", func() *attestor.Record {
			r := sampleRecord()
			r.Command = nil
			r.ExitCode = nil
			r.Stdout, r.Stderr = "", ""
			return r
		}},
		{"failed and truncated", func() *attestor.Record {
			r := sampleRecord()
			r.ExitCode = intp(137)
			r.StdoutTruncated, r.StderrTruncated = true, true
			return r
		}},
		{"no CI, no times", func() *attestor.Record {
			r := sampleRecord()
			r.CI = nil
			r.StartedOn, r.FinishedOn = time.Time{}, time.Time{}
			return r
		}},
		{"several digests", func() *attestor.Record {
			r := sampleRecord()
			r.Products[0].Digest["sha512"] = strings.Repeat("ab", 64)
			return r
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := tt.rec()
			st, err := want.Statement()
			if err != nil {
				t.Fatalf("Statement: %v", err)
			}
			data, err := envelope.MarshalStatement(st)
			if err != nil {
				t.Fatalf("MarshalStatement: %v", err)
			}
			parsed, err := envelope.ParseStatement(data)
			if err != nil {
				t.Fatalf("envelope.ParseStatement(%s): %v", data, err)
			}
			if diff := cmp.Diff(st, parsed, protocmp.Transform()); diff != "" {
				t.Errorf("statement changed through Marshal/Parse (-want +got):\n%s", diff)
			}
			got, err := attestor.RecordFromStatement(parsed)
			if err != nil {
				t.Fatalf("RecordFromStatement: %v", err)
			}
			if diff := cmp.Diff(want, got, recordCmp); diff != "" {
				t.Errorf("record changed through the statement (-want +got):\n%s", diff)
			}
			again, err := envelope.MarshalStatement(st)
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != string(data) {
				t.Errorf("MarshalStatement is not stable:\n%s\n%s", data, again)
			}
		})
	}
}

func TestRecordStatementShape(t *testing.T) {
	t.Parallel()
	rec := sampleRecord()
	st, err := rec.Statement()
	if err != nil {
		t.Fatal(err)
	}
	if st.GetType() != ita1.StatementTypeUri || st.GetPredicateType() != envelope.PredicateTypeLink {
		t.Errorf("type %q, predicateType %q", st.GetType(), st.GetPredicateType())
	}
	if diff := cmp.Diff(rec.Products, st.GetSubject(), protocmp.Transform()); diff != "" {
		t.Errorf("subjects are not the products (-want +got):\n%s", diff)
	}
	pred := st.GetPredicate().AsMap()
	want := map[string]any{
		"name":      "build",
		"command":   []any{"go", "build", "-o", "bin/app", "./src"},
		"materials": []any{map[string]any{"name": "go.mod", "digest": map[string]any{"sha256": digestGoMod}}, map[string]any{"name": "src/main.go", "digest": map[string]any{"sha256": digestMainGo}}},
		"byproducts": map[string]any{
			"return-value": float64(0),
			"stdout":       "built bin/app\n",
			"stderr":       "warning: <nothing> & \"quoted\"\n",
		},
		"environment": map[string]any{
			"startedOn":  "2025-03-14T15:09:26Z",
			"finishedOn": "2025-03-14T15:11:33Z",
			"ci":         rec.CI,
		},
	}
	if diff := cmp.Diff(want, pred); diff != "" {
		t.Errorf("link predicate (-want +got):\n%s", diff)
	}

	// Without products the materials are the subjects, and it says so.
	rec.Products = nil
	st, err = rec.Statement()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rec.Materials, st.GetSubject(), protocmp.Transform()); diff != "" {
		t.Errorf("subjects are not the materials (-want +got):\n%s", diff)
	}
	if got := st.GetPredicate().GetFields()["byproducts"].GetStructValue().GetFields()["subjects"].GetStringValue(); got != "materials" {
		t.Errorf("byproducts.subjects = %q, want %q", got, "materials")
	}
}

// TestRecordStatementTimes: times are recorded in UTC to the second.
func TestRecordStatementTimes(t *testing.T) {
	t.Parallel()
	rec := sampleRecord()
	rec.StartedOn = time.Date(2025, 3, 14, 17, 9, 26, 999_999_999, time.FixedZone("CEST", 2*3600))
	st, err := rec.Statement()
	if err != nil {
		t.Fatal(err)
	}
	got, err := attestor.RecordFromStatement(st)
	if err != nil {
		t.Fatal(err)
	}
	if !got.StartedOn.Equal(t0) || got.StartedOn.Location() != time.UTC {
		t.Errorf("StartedOn = %v, want %v", got.StartedOn, t0)
	}
}

// TestRecordStatementInvalidUTF8: output that is not UTF-8 is recorded with
// U+FFFD in place of the bad bytes (JSON strings are UTF-8).
func TestRecordStatementInvalidUTF8(t *testing.T) {
	t.Parallel()
	rec := sampleRecord()
	rec.Stdout = "ok \xff\xfe done"
	st, err := rec.Statement()
	if err != nil {
		t.Fatal(err)
	}
	data, err := envelope.MarshalStatement(st)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := envelope.ParseStatement(data)
	if err != nil {
		t.Fatal(err)
	}
	got, err := attestor.RecordFromStatement(parsed)
	if err != nil {
		t.Fatal(err)
	}
	if want := "ok \uFFFD done"; got.Stdout != want {
		t.Errorf("Stdout = %q, want %q", got.Stdout, want)
	}
	if l := rec.Link(); l.ByProducts["stdout"] != "ok \uFFFD done" {
		t.Errorf("legacy link stdout = %q", l.ByProducts["stdout"])
	}
}

func TestRecordStatementErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		edit        func(*attestor.Record)
		wantInvalid bool
	}{
		{"invalid step name", func(r *attestor.Record) { r.Step = "../build" }, true},
		{"empty step name", func(r *attestor.Record) { r.Step = "" }, true},
		{"no subjects at all", func(r *attestor.Record) { r.Materials, r.Products = nil, nil }, true},
		// CI facts come from the program, not from the user.
		{"CI value that is not JSON", func(r *attestor.Record) { r.CI = map[string]any{"ch": make(chan int)} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := sampleRecord()
			tt.edit(rec)
			st, err := rec.Statement()
			if err == nil {
				t.Fatalf("Statement() = %v, want an error", st)
			}
			if tt.wantInvalid && !errors.Is(err, fault.ErrInvalidInput) {
				t.Errorf("Statement() error %v does not match fault.ErrInvalidInput", err)
			}
		})
	}
}

func TestParseStatementErrors(t *testing.T) {
	t.Parallel()
	valid, err := sampleRecord().Statement()
	if err != nil {
		t.Fatal(err)
	}
	validJSON, err := envelope.MarshalStatement(valid)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data string
	}{
		{"empty", ""},
		{"not JSON", "{"},
		{"a list", "[]"},
		{"empty object", "{}"},
		{"wrong type", strings.Replace(string(validJSON), ita1.StatementTypeUri, "https://in-toto.io/Statement/v0.9", 1)},
		{"no subject", `{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"x","predicate":{}}`},
		{"subject without digest", `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a"}],"predicateType":"x","predicate":{}}`},
		{"no predicate type", `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"00"}}],"predicate":{}}`},
		{"subject is a string", `{"_type":"https://in-toto.io/Statement/v1","subject":"a","predicateType":"x"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, err := envelope.ParseStatement([]byte(tt.data))
			if !errors.Is(err, fault.ErrInvalidInput) {
				t.Errorf("envelope.ParseStatement(%q) = %v, %v; want an error matching fault.ErrInvalidInput", tt.data, st, err)
			}
		})
	}
}

func TestRecordFromStatementErrors(t *testing.T) {
	t.Parallel()
	withPredicate := func(edit func(map[string]any)) *ita1.Statement {
		st, err := sampleRecord().Statement()
		if err != nil {
			t.Fatal(err)
		}
		m := st.GetPredicate().AsMap()
		edit(m)
		pred, err := structpb.NewStruct(m)
		if err != nil {
			t.Fatal(err)
		}
		st.Predicate = pred
		return st
	}
	env := func(m map[string]any) map[string]any { return m["environment"].(map[string]any) }
	tests := []struct {
		name string
		st   *ita1.Statement
	}{
		{"other predicate type", func() *ita1.Statement {
			st, _ := sampleRecord().Statement()
			st.PredicateType = "https://slsa.dev/provenance/v1"
			return st
		}()},
		{"invalid step name", withPredicate(func(m map[string]any) { m["name"] = "a/b" })},
		{"no step name", withPredicate(func(m map[string]any) { delete(m, "name") })},
		{"bad startedOn", withPredicate(func(m map[string]any) { env(m)["startedOn"] = "yesterday" })},
		{"bad finishedOn", withPredicate(func(m map[string]any) { env(m)["finishedOn"] = "2025-13-01T00:00:00Z" })},
		{"materials of the wrong type", withPredicate(func(m map[string]any) { m["materials"] = "src" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec, err := attestor.RecordFromStatement(tt.st)
			if !errors.Is(err, fault.ErrInvalidInput) {
				t.Errorf("RecordFromStatement() = %+v, %v; want an error matching fault.ErrInvalidInput", rec, err)
			}
		})
	}
}

func TestValidateStepName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ok   bool
	}{
		{"build", true},
		{"Build-2", true},
		{"unit_tests.linux-amd64", true},
		{"0", true},
		{"a.b", true},
		{"v1.2.3", true},
		{strings.Repeat("a", 128), true},
		{"", false},
		{"a/b", false},
		{"/abs", false},
		{"a\\b", false},
		{"..", false},
		{"../x", false},
		{"x/../y", false},
		{"a..b", false},
		{".", false},
		{".hidden", false},
		{"-flag", false},
		{"_provenance", false}, // the reserved prefix
		{"with space", false},
		{"tab\t", false},
		{"new\nline", false},
		{"nul\x00", false},
		{"ünïcode", false},
		{"star*", false},
		{strings.Repeat("a", 129), false},
		{strings.Repeat("a", 200), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := workspace.ValidateStepName(tt.name)
			if tt.ok && err != nil {
				t.Errorf("workspace.ValidateStepName(%q) = %v, want nil", tt.name, err)
			}
			if !tt.ok {
				if !errors.Is(err, fault.ErrInvalidInput) {
					t.Errorf("workspace.ValidateStepName(%q) = %v, want an error matching fault.ErrInvalidInput", tt.name, err)
				} else if !strings.Contains(err.Error(), strconv.Quote(tt.name)) {
					t.Errorf("error %q does not name the input %q", err, tt.name)
				}
			}
		})
	}
}

func TestRecordLink(t *testing.T) {
	t.Parallel()
	rec := sampleRecord()
	want := in_toto.Link{
		Type: "link",
		Name: "build",
		Materials: map[string]in_toto.HashObj{
			"go.mod":      {"sha256": digestGoMod},
			"src/main.go": {"sha256": digestMainGo},
		},
		Products: map[string]in_toto.HashObj{"bin/app": {"sha256": digestApp}},
		ByProducts: map[string]any{
			"return-value": 0,
			"stdout":       "built bin/app\n",
			"stderr":       "warning: <nothing> & \"quoted\"\n",
		},
		Command: []string{"go", "build", "-o", "bin/app", "./src"},
		Environment: map[string]any{
			"startedOn":  "2025-03-14T15:09:26Z",
			"finishedOn": "2025-03-14T15:11:33Z",
			"ci":         rec.CI,
		},
	}
	if diff := cmp.Diff(want, rec.Link()); diff != "" {
		t.Errorf("Link() (-want +got):\n%s", diff)
	}

	// in-toto's schema wants every field present: no nulls.
	empty := &attestor.Record{Step: "empty"}
	data, err := json.Marshal(empty.Link())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "null") {
		t.Errorf("link of an empty record has nulls: %s", data)
	}
}

// TestRecordGolden pins the bytes we emit for a record: the statement (what
// the DSSE envelope signs) and the classic link.
func TestRecordGolden(t *testing.T) {
	t.Parallel()
	rec := sampleRecord()
	st, err := rec.Statement()
	if err != nil {
		t.Fatal(err)
	}
	data, err := envelope.MarshalStatement(st)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "statement.json", data)

	link, err := json.MarshalIndent(rec.Link(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "link.json", append(link, '\n'))
}
