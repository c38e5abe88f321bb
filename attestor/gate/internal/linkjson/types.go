package linkjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unsafe"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// Descriptor is the part of an in-toto resource descriptor the gate reads.
type Descriptor struct {
	Name   string    `json:"name"`
	URI    string    `json:"uri"`
	Digest DigestSet `json:"digest"`
}

// DigestSet is a resource Descriptor's digest set, decoded straight into
// its canonical form (see Canonical): no map per artifact.
type DigestSet string

// UnmarshalJSON decodes {"alg":"hex",...}.
func (d *DigestSet) UnmarshalJSON(b []byte) error {
	// The common case, compact {"sha256":"..."} without escapes.
	if len(b) > 7 && b[0] == '{' && b[1] == '"' && b[len(b)-1] == '}' && b[len(b)-2] == '"' &&
		bytes.Count(b, []byte{'"'}) == 4 && bytes.IndexByte(b, '\\') < 0 {
		if i := bytes.Index(b, []byte(`":"`)); i > 1 {
			alg, hex := b[2:i], b[i+3:len(b)-2]
			if bytes.ContainsAny(alg, ",:") || bytes.ContainsAny(hex, ",:") {
				return fmt.Errorf("invalid digest %s", b)
			}
			*d = DigestSet(string(alg) + ":" + string(hex))
			return nil
		}
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for alg, hex := range m {
		// The canonical form separates with ':' and ','.
		if strings.ContainsAny(alg, ",:") || strings.ContainsAny(hex, ",:") {
			return fmt.Errorf("invalid digest %q: %q", alg, hex)
		}
	}
	*d = DigestSet(Canonical(m))
	return nil
}

// Has reports whether the set holds alg:hex.
func (d DigestSet) Has(alg, hex string) bool {
	want := alg + ":" + hex
	for part := range strings.SplitSeq(string(d), ",") {
		if part == want {
			return true
		}
	}
	return false
}

// Predicate is the part of a link predicate the gate reads.
type Predicate struct {
	Name       string         `json:"name"`
	Command    []string       `json:"command"`
	Materials  []Descriptor   `json:"materials"`
	Byproducts map[string]any `json:"byproducts"`
}

// Statement is a step record's statement, decoded in one pass.
type Statement struct {
	Type          string       `json:"_type"`
	Subject       []Descriptor `json:"subject"`
	PredicateType string       `json:"predicateType"`
	Predicate     Predicate    `json:"predicate"`
}

// DecodeStatement decodes a step record's statement, with
// decodeStatementFast when it can. The strings decoded may share
// payload's memory: it must not be modified afterwards (payloads are
// decoded from base64 by sign.VerifyEnvelope, for the gate only, and
// never modified).
func DecodeStatement(payload []byte) (Statement, error) {
	if ls, ok := decodeStatementFast(unsafe.String(unsafe.SliceData(payload), len(payload))); ok {
		return ls, nil
	}
	var ls Statement
	err := json.Unmarshal(payload, &ls)
	return ls, err
}

// DecodeEnvelope decodes a DSSE envelope, with decodeEnvelopeFast when it
// can.
func DecodeEnvelope(data []byte) (*dsse.Envelope, error) {
	if env, ok := decodeEnvelopeFast(string(data)); ok {
		return env, nil
	}
	env := &dsse.Envelope{}
	if err := json.Unmarshal(data, env); err != nil {
		return nil, err
	}
	return env, nil
}

// Canonical is the canonical form of a digest set: alg:hex pairs sorted by
// algorithm, joined by commas.
func Canonical(d map[string]string) string {
	if len(d) == 1 {
		for k, v := range d {
			return k + ":" + v
		}
	}
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k + ":" + d[k])
	}
	return b.String()
}
