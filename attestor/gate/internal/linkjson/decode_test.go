package linkjson

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	ita1 "github.com/in-toto/attestation/go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/attestor/attestor/attestor"
	"github.com/attestor/attestor/attestor/envelope"
)

// Statements the fast path must decode itself (ok), as encoding/json does.
var linkStatementSeeds = []string{
	`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"app","digest":{"sha256":"ab"}}],"predicateType":"` + envelope.PredicateTypeLink + `","predicate":{"name":"build","command":["make","-j"],"materials":[{"name":"src/a.go","digest":{"sha256":"01"}}],"byproducts":{"return-value":1.5,"stdout":"x","subjects":"materials"},"environment":{"startedOn":"2026-01-01T00:00:00Z"}}}`,
	// Whitespace, key order, unknown fields of every kind, nulls.
	" \n{ \"predicateType\" : \"" + envelope.PredicateTypeLink + "\" ,\r\n\t\"predicate\": { \"materials\": [ ], \"extra\": [1, -0.5e+3, 2E-2, true, false, null, {\"a\": [[]]}], \"name\": \"s\", \"command\": null, \"byproducts\": null },\n \"subject\": [ null, { \"uri\": \"https://x/y\", \"digest\": { \"sha512\" : \"cd\", \"sha256\": \"ab\" }, \"annotations\": {\"k\": \"v\"} } ], \"_type\": \"https://in-toto.io/Statement/v0.1\" } \n",
	// Escapes, \u escapes, surrogate pairs, unpaired surrogates, UTF-8,
	// invalid UTF-8 (outside digests).
	`{"_type":"https:\/\/in-toto.io\/Statement\/v1","subject":[{"name":"a\"b\\c\b\f\n\r\t\u00e9\ud83d\ude00\ud800x\udc00\ud83d\u0041","digest":{"sha256":"a\u0062"}}],"predicateType":"x","predicate":{"name":"é😀` + "\xff\xc3" + `"}}`,
	`{"subject":[{"name":"x","digest":{}},{"name":"y","digest":null},{"name":"z","digest":{"a":"1","a":"2"}},{"digest":{"b":"2","a":"1","c":"3"}}],"predicate":null}`,
	`{}`,
}

// Inputs the fast path leaves to encoding/json (not ok): whether valid or
// not, they decode as encoding/json says.
var linkStatementFallbacks = []string{
	``, `null`, `[]`, `{"_type":1}`, `{"_type":"a","_type":"b"}`, `{"_TYPE":"a"}`, `{"ſubject":[]}`,
	`{"subject":[{"NAME":"x"}]}`, `{"subject":[{"name":"x","name":"y"}]}`, `{"subject":{}}`, `{"subject":[1]}`,
	`{"subject":[{"digest":{"sha256":"` + "\xff" + `"}}]}`, `{"subject":[{"digest":{"a":"1,b:2"}}]}`, `{"subject":[{"digest":{"a":null}}]}`,
	`{"predicate":{"byproducts":{"n":1e400}}}`, `{"predicate":{"command":[1]}}`, `{"x":01}`, `{"x":1.}`, `{"x":-}`, `{"x":tru}`,
	`{"x":"\x"}`, `{"x":"\u12"}`, "{\"x\":\"\x01\"}", `{"x":1}x`, `{"x":1,}`, `{"x" 1}`, `{"a":[1,]}`, `{"a":[1 2]}`,
}

// TestDecodeLinkStatementFast: the fast path decodes common statements
// itself, as encoding/json does, and leaves the others to it.
func TestDecodeLinkStatementFast(t *testing.T) {
	t.Parallel()
	sha256, sha512 := strings.Repeat("ab", 32), strings.Repeat("cd", 64)
	rec := &attestor.Record{Step: "build", Command: []string{"make"},
		Materials: []*ita1.ResourceDescriptor{{Name: "src/ü.go", Digest: map[string]string{"sha256": sha256, "sha512": sha512}}},
		Products:  []*ita1.ResourceDescriptor{{Name: "app", Digest: map[string]string{"sha256": sha256}}},
		StartedOn: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC), FinishedOn: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	st, err := rec.Statement()
	if err != nil {
		t.Fatal(err)
	}
	data, err := envelope.MarshalStatement(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range append([]string{string(data)}, linkStatementSeeds...) {
		got, ok := decodeStatementFast(in)
		var want Statement
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if !ok {
			t.Errorf("the fast path does not decode %s", in)
		} else if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: (-encoding/json +fast):\n%s", in, diff)
		}
	}
	for _, in := range linkStatementFallbacks {
		if got, ok := decodeStatementFast(in); ok {
			t.Errorf("the fast path decodes %s: %+v", in, got)
		}
	}
}

// FuzzDecodeLinkStatement: whenever the fast path decodes a statement,
// encoding/json decodes it without error into the same value.
func FuzzDecodeLinkStatement(f *testing.F) {
	for _, s := range append(linkStatementSeeds, linkStatementFallbacks...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ok := decodeStatementFast(string(data))
		if !ok {
			return
		}
		var want Statement
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("the fast path decodes what encoding/json rejects (%v):\n%q", err, data)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("%q: (-encoding/json +fast):\n%s", data, diff)
		}
	})
}

// FuzzDecodeEnvelope: the same for DSSE envelopes.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range []string{
		`{"payloadType":"application/vnd.in-toto+json","payload":"eyJhIjoxfQ==","signatures":[{"keyid":"k","sig":"c2ln"}]}`,
		` { "signatures" : [ null, {"sig": "x", "other": 1} ], "payload": "a\/b", "payloadType": null } `,
		`{"payloadType":"a","signatures":[]}`, `{"signatures":null}`, `{"PAYLOAD":"x"}`, `{"payload":"a","payload":"b"}`, `{"signatures":[{"keyid":1}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ok := decodeEnvelopeFast(string(data))
		if !ok {
			return
		}
		want := &dsse.Envelope{}
		if err := json.Unmarshal(data, want); err != nil {
			t.Fatalf("the fast path decodes what encoding/json rejects (%v):\n%q", err, data)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("%q: (-encoding/json +fast):\n%s", data, diff)
		}
	})
}
