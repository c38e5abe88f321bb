package attestor

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"unicode/utf8"
	"unsafe"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/hashing"
	"github.com/attestor/attestor/attestor/workspace"

	ita1 "github.com/in-toto/attestation/go/v1"
)

// The direct encoding of a step record's statement. Record.Statement builds
// the statement as protobuf messages, whose link predicate is a
// structpb.Struct: encoding a step with 40,000 artifacts that way costs a
// JSON round trip and some 100 MB of garbage. MarshalStatement writes the
// same statement straight from the record, in one pass into one buffer
// sized beforehand: the result parses (ParseStatement) to a statement equal
// to Record.Statement's, and its key order is stable (struct fields in
// protojson's order for the statement and descriptors, sorted keys inside
// the predicate, as a Struct has them). The Recorder encodes into a buffer
// that leaves room in front for the DSSE pre-authentication header, so the
// payload is signed where it lies, without a copy.

// MarshalStatement encodes the record's statement (see Record.Statement) as
// compact JSON, directly.
func (r *Record) MarshalStatement() ([]byte, error) {
	subjects, by, err := r.statementParts()
	if err != nil {
		return nil, err
	}
	for _, s := range subjects {
		if err := s.Validate(); err != nil {
			return nil, fault.Invalidf("step %q: invalid subject %q: %v", r.Step, s.GetName(), err)
		}
	}
	subj, ok1 := compactDescriptors(subjects)
	mats, ok2 := compactDescriptors(r.Materials)
	if !ok1 || !ok2 {
		// Descriptors with more than names and digests of the Hasher's
		// algorithms: the protobuf encoding.
		st, err := r.Statement()
		if err != nil {
			return nil, err
		}
		return envelope.MarshalStatement(st)
	}
	return r.appendStatement(nil, by, subj, mats)
}

// appendStatement appends the record's statement, with the given subjects
// and materials, to buf: compact JSON, byte for byte what encoding/json
// (without HTML escaping) makes of it, the artifacts written by hand.
func (r *Record) appendStatement(buf []byte, by map[string]any, subjects, materials []hashing.FileSum) ([]byte, error) {
	head, err := appendJSON(nil, by)
	if err != nil {
		return nil, fmt.Errorf("encoding byproducts of step %q: %w", r.Step, err)
	}
	var command []byte
	if len(r.Command) > 0 {
		if command, err = appendJSON(nil, r.Command); err != nil {
			return nil, fmt.Errorf("encoding command of step %q: %w", r.Step, err)
		}
	}
	env, err := appendJSON(nil, r.environment())
	if err != nil {
		return nil, fmt.Errorf("encoding environment of step %q: %w", r.Step, err)
	}
	size := len(head) + len(command) + len(env) + len(r.Step) + 256 +
		artifactsSize(subjects) + artifactsSize(materials)
	buf = slices.Grow(buf, size)

	buf = append(buf, `{"_type":`...)
	buf = appendJSONString(buf, ita1.StatementTypeUri)
	buf = append(buf, `,"subject":[`...)
	for i := range subjects {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"name":`...)
		buf = appendJSONString(buf, subjects[i].Name)
		buf = append(buf, `,"digest":`...)
		buf = appendDigest(buf, &subjects[i])
		buf = append(buf, '}')
	}
	buf = append(buf, `],"predicateType":`...)
	buf = appendJSONString(buf, envelope.PredicateTypeLink)
	buf = append(buf, `,"predicate":{"byproducts":`...)
	buf = append(buf, head...)
	if command != nil {
		buf = append(buf, `,"command":`...)
		buf = append(buf, command...)
	}
	buf = append(buf, `,"environment":`...)
	buf = append(buf, env...)
	if len(materials) > 0 {
		buf = append(buf, `,"materials":[`...)
		for i := range materials {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, `{"digest":`...)
			buf = appendDigest(buf, &materials[i])
			buf = append(buf, `,"name":`...)
			buf = appendJSONString(buf, materials[i].Name)
			buf = append(buf, '}')
		}
		buf = append(buf, ']')
	}
	buf = append(buf, `,"name":`...)
	buf = appendJSONString(buf, r.Step)
	buf = append(buf, "}}"...)
	return buf, nil
}

// artifactsSize is the size of hs in the statement, when no name needs
// escaping.
func artifactsSize(hs []hashing.FileSum) int {
	n := 0
	for i := range hs {
		n += len(hs[i].Name) + len(`{"name":"","digest":{}},`)
		if v := hs[i].DirHash; v != "" {
			n += len(hashing.DirHashAlgorithm) + len(v) + len(`"":"",`)
		}
		for j, v := range hs[i].Sums {
			if v != "" {
				n += len(hashing.Algorithms[j].Name) + len(v) + len(`"":"",`)
			}
		}
	}
	return n
}

// appendDigest appends the artifact's digest map (see fileSum.digest).
func appendDigest(buf []byte, f *hashing.FileSum) []byte {
	if f.DirHash == "" {
		return appendSums(buf, &f.Sums)
	}
	buf = append(buf, '{')
	buf = appendJSONString(buf, hashing.DirHashAlgorithm)
	buf = append(buf, ':')
	buf = appendJSONString(buf, f.DirHash)
	return append(buf, '}')
}

// appendSums appends the digests as a JSON object, keys sorted (the order
// of cacheAlgorithms).
func appendSums(buf []byte, s *hashing.Sums) []byte {
	buf = append(buf, '{')
	first := true
	for i, v := range s {
		if v == "" {
			continue
		}
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = appendJSONString(buf, hashing.Algorithms[i].Name)
		buf = append(buf, ':')
		buf = appendJSONString(buf, v)
	}
	return append(buf, '}')
}

// appendJSONString appends s as a JSON string, as encoding/json writes it
// without HTML escaping. Printable ASCII without quotes or backslashes,
// which is what file names and hex digests are, is copied as it is; any
// other string is left to encoding/json.
func appendJSONString(buf []byte, s string) []byte {
	i := 0
	// Eight bytes at a time: a word with none of the bytes to look at
	// (below 0x20, '"', '\\', 0x80 and above) is copied as it is.
	for ; i+8 <= len(s); i += 8 {
		if jsonSpecial(binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s[i:]), 8))) {
			break
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			b, err := appendJSON(buf, s)
			if err != nil {
				// A string always encodes.
				panic(err)
			}
			return b
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

// jsonSpecial reports whether a byte of w is below 0x20, '"', '\\', or
// 0x80 and above (the bit tricks of "Bit Twiddling Hacks": a byte is zero
// where (b - 1) & ^b has its top bit set).
func jsonSpecial(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	zero := func(x uint64) uint64 { return (x - ones) & ^x & highs }
	return (w-ones*0x20)&^w&highs != 0 || // a byte below 0x20 (or 0x80 and above)
		zero(w^(ones*'"')) != 0 ||
		zero(w^(ones*'\\')) != 0 ||
		w&highs != 0
}

// appendJSON appends v encoded by encoding/json without HTML escaping and
// without the encoder's newline.
func appendJSON(buf []byte, v any) ([]byte, error) {
	w := bytes.NewBuffer(buf)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(w.Bytes(), []byte("\n")), nil
}

// checkFields and checkArtifactsUTF8 refuse a record with a string that is not UTF-8: JSON cannot
// carry it byte for byte (encoding/json would replace the bytes silently,
// protobuf refuses them), and a record must not say other than what ran.
//
// checkFields checks the step name and the strings of the command and the
// CI facts; checkArtifactsUTF8 the artifacts' (the Hasher's names are
// checked as it walks).
func (r *Record) checkFields() error {
	if err := workspace.ValidateStepName(r.Step); err != nil {
		return err
	}
	if !validUTF8(r.Command) {
		return fault.Invalidf("step %q: the command has an argument that is not valid UTF-8, which a record cannot carry byte for byte", r.Step)
	}
	if !validUTF8(r.CI) {
		return fault.Invalidf("step %q: the CI facts hold a value that is not valid UTF-8", r.Step)
	}
	return nil
}

func checkArtifactsUTF8(step string, lists ...[]*ita1.ResourceDescriptor) error {
	for _, rds := range lists {
		for _, rd := range rds {
			if !validUTF8(rd.GetName()) || !validUTF8(rd.GetDigest()) {
				return fault.Invalidf("step %q: artifact name %q is not valid UTF-8", step, rd.GetName())
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
