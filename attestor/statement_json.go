package attestor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	ita1 "github.com/in-toto/attestation/go/v1"
)

// The direct encoding of a step record's statement. Record.Statement builds
// the statement as protobuf messages, whose link predicate is a
// structpb.Struct: encoding a step with 40,000 artifacts that way costs a
// JSON round trip and some 100 MB of garbage. MarshalStatement writes the
// same statement straight from the record, in one pass: the result parses
// (ParseStatement) to a statement equal to Record.Statement's, and its key
// order is stable (struct fields in protojson's order for the statement
// and descriptors, sorted keys inside the predicate, as a Struct has them).

type statementJSON struct {
	Type          string           `json:"_type"`
	Subject       []descriptorJSON `json:"subject"`
	PredicateType string           `json:"predicateType"`
	Predicate     linkJSON         `json:"predicate"`
}

// linkJSON is the link predicate with its keys in sorted order.
type linkJSON struct {
	Byproducts  map[string]any `json:"byproducts"`
	Command     []string       `json:"command,omitempty"`
	Environment map[string]any `json:"environment"`
	Materials   []materialJSON `json:"materials,omitempty"`
	Name        string         `json:"name"`
}

// materialJSON is a descriptor inside the predicate, keys sorted.
type materialJSON struct {
	Digest map[string]string `json:"digest,omitempty"`
	Name   string            `json:"name,omitempty"`
}

// descriptorJSON is a resource descriptor that has a name and digests only,
// which is all the hasher records.
type descriptorJSON struct {
	Name   string            `json:"name,omitempty"`
	Digest map[string]string `json:"digest,omitempty"`
}

// plainDescriptors converts rds, or reports false when one of them carries
// more than a name and digests (then the protobuf encoding is used).
func plainDescriptors(rds []*ita1.ResourceDescriptor) ([]descriptorJSON, bool) {
	out := make([]descriptorJSON, len(rds))
	for i, rd := range rds {
		if rd.GetUri() != "" || len(rd.GetContent()) > 0 || rd.GetDownloadLocation() != "" ||
			rd.GetMediaType() != "" || rd.GetAnnotations() != nil {
			return nil, false
		}
		out[i] = descriptorJSON{Name: rd.GetName(), Digest: rd.GetDigest()}
	}
	return out, true
}

// MarshalStatement encodes the record's statement (see Record.Statement) as
// compact JSON, directly: it is what a Recorder signs.
func (r *Record) MarshalStatement() ([]byte, error) {
	subjects, by, err := r.statementParts()
	if err != nil {
		return nil, err
	}
	for _, s := range subjects {
		if err := s.Validate(); err != nil {
			return nil, invalidf("step %q: invalid subject %q: %v", r.Step, s.GetName(), err)
		}
	}
	subj, ok1 := plainDescriptors(subjects)
	plainMats, ok2 := plainDescriptors(r.Materials)
	if !ok1 || !ok2 {
		st, err := r.Statement()
		if err != nil {
			return nil, err
		}
		return MarshalStatement(st)
	}
	var mats []materialJSON
	if len(plainMats) > 0 {
		mats = make([]materialJSON, len(plainMats))
		for i, m := range plainMats {
			mats[i] = materialJSON{Digest: m.Digest, Name: m.Name}
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err = enc.Encode(statementJSON{
		Type:          ita1.StatementTypeUri,
		Subject:       subj,
		PredicateType: PredicateTypeLink,
		Predicate: linkJSON{
			Byproducts:  by,
			Command:     r.Command,
			Environment: r.environment(),
			Materials:   mats,
			Name:        r.Step,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("encoding statement of step %q: %w", r.Step, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// checkUTF8 refuses a record with a string that is not UTF-8: JSON cannot
// carry it byte for byte (encoding/json would replace the bytes silently,
// protobuf refuses them), and a record must not say other than what ran.
func (r *Record) checkUTF8() error {
	if !validUTF8(r.Command) {
		return invalidf("step %q: the command has an argument that is not valid UTF-8, which a record cannot carry byte for byte", r.Step)
	}
	if !validUTF8(r.CI) {
		return invalidf("step %q: the CI facts hold a value that is not valid UTF-8", r.Step)
	}
	for _, rds := range [][]*ita1.ResourceDescriptor{r.Materials, r.Products} {
		for _, rd := range rds {
			if !validUTF8(rd.GetName()) || !validUTF8(rd.GetDigest()) {
				return invalidf("step %q: artifact name %q is not valid UTF-8", r.Step, rd.GetName())
			}
		}
	}
	return nil
}

// validUTF8 reports whether every string in v (a string, a command, CI
// facts, digests) is valid UTF-8.
func validUTF8(v any) bool {
	switch v := v.(type) {
	case string:
		return utf8.ValidString(v)
	case []string:
		for _, s := range v {
			if !utf8.ValidString(s) {
				return false
			}
		}
	case map[string]string:
		for k, s := range v {
			if !utf8.ValidString(k) || !utf8.ValidString(s) {
				return false
			}
		}
	case []any:
		for _, e := range v {
			if !validUTF8(e) {
				return false
			}
		}
	case map[string]any:
		for k, e := range v {
			if !utf8.ValidString(k) || !validUTF8(e) {
				return false
			}
		}
	}
	return true
}
