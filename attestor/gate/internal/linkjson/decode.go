package linkjson

import (
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// The gate decodes step records (which may list hundreds of thousands of
// artifacts) and their DSSE envelopes with the hand-written decoders
// below, not with encoding/json, whose reflection and two passes (one to
// validate, one to decode) took half of the verification's time.
//
// A decoder here is a fast path, not a second JSON dialect: it returns
// ok only when encoding/json would decode the same input into the same
// value without error. Anything it does not handle exactly like
// encoding/json (a syntax or type error, a duplicate field, a key that
// matches a field only case-insensitively, deep nesting, a digest that is
// not valid UTF-8) makes it return false, and the caller decodes with
// encoding/json, which decides, and words the error, as before.
// FuzzDecodeLinkStatement and FuzzDecodeEnvelope check the equivalence.

// decodeStatementFast decodes a step record's statement as
// json.Unmarshal into a Statement would; ok is false when the caller
// must use json.Unmarshal. Strings without escapes share payload's memory.
func decodeStatementFast(payload string) (ls Statement, ok bool) {
	s := &scanner{s: payload}
	ok = s.document(func() bool {
		return s.fields(linkStatementFields, func(i int) bool {
			switch i {
			case 0:
				return s.stringInto(&ls.Type)
			case 1:
				return s.descriptors(&ls.Subject)
			case 2:
				return s.stringInto(&ls.PredicateType)
			default:
				return s.Predicate(&ls.Predicate)
			}
		})
	})
	return ls, ok
}

// The JSON names of the fields of Statement, Predicate,
// Descriptor, dsse.Envelope and dsse.Signature, in the order the decoders
// switch on.
var (
	linkStatementFields = []string{"_type", "subject", "predicateType", "predicate"}
	linkPredicateFields = []string{"name", "command", "materials", "byproducts"}
	descriptorFields    = []string{"name", "uri", "digest"}
	envelopeFields      = []string{"payloadType", "payload", "signatures"}
	signatureFields     = []string{"keyid", "sig"}
)

func (s *scanner) Predicate(p *Predicate) bool {
	if s.null() {
		return true
	}
	return s.fields(linkPredicateFields, func(i int) bool {
		switch i {
		case 0:
			return s.stringInto(&p.Name)
		case 1:
			return s.strings(&p.Command)
		case 2:
			return s.descriptors(&p.Materials)
		default:
			// Small and free-form: encoding/json decodes it, from
			// the validated bytes.
			start := s.i
			if !s.skip() {
				return false
			}
			return json.Unmarshal([]byte(s.s[start:s.i]), &p.Byproducts) == nil
		}
	})
}

// descriptors decodes an array of resource descriptors (or null).
func (s *scanner) descriptors(dst *[]Descriptor) bool {
	if s.null() {
		*dst = nil
		return true
	}
	// Decoded in chunks, copied once into a list of the right size:
	// append alone would allocate five times the list's size (large
	// slices grow by a quarter).
	var chunks [][]Descriptor
	chunk := make([]Descriptor, 0, 16)
	ok := s.array(func() bool {
		var d Descriptor
		if !s.null() && !s.fields(descriptorFields, func(i int) bool {
			switch i {
			case 0:
				return s.stringInto(&d.Name)
			case 1:
				return s.stringInto(&d.URI)
			default:
				return s.DigestSet(&d.Digest)
			}
		}) {
			return false
		}
		if len(chunk) == cap(chunk) {
			chunks = append(chunks, chunk)
			chunk = make([]Descriptor, 0, min(2*cap(chunk), 4096))
		}
		chunk = append(chunk, d)
		return true
	})
	n := len(chunk)
	for _, c := range chunks {
		n += len(c)
	}
	list := make([]Descriptor, 0, n)
	for _, c := range chunks {
		list = append(list, c...)
	}
	*dst = append(list, chunk...)
	return ok
}

// DigestSet decodes a digest set as (*DigestSet).UnmarshalJSON does.
func (s *scanner) DigestSet(dst *DigestSet) bool {
	if s.null() {
		*dst = ""
		return true
	}
	var (
		n        int
		alg, hex string
		all      map[string]string // with more than one entry
	)
	// UnmarshalJSON copies the bytes of a compact digest set as they
	// are, where encoding/json would coerce invalid UTF-8.
	s.coerced = false
	ok := s.object(func(key string) bool {
		v, ok := s.str()
		if !ok || strings.ContainsAny(key, ",:") || strings.ContainsAny(v, ",:") {
			return false
		}
		switch n++; n {
		case 1:
			alg, hex = key, v
		case 2:
			all = map[string]string{alg: hex}
			fallthrough
		default:
			all[key] = v
		}
		return true
	})
	if !ok || s.coerced {
		return false
	}
	switch {
	case n == 0:
		*dst = ""
	case all == nil:
		*dst = DigestSet(alg + ":" + hex)
	default:
		*dst = DigestSet(Canonical(all))
	}
	return true
}

// decodeEnvelopeFast decodes a DSSE envelope as json.Unmarshal would; ok
// is false when the caller must use json.Unmarshal.
func decodeEnvelopeFast(data string) (env *dsse.Envelope, ok bool) {
	env = &dsse.Envelope{}
	s := &scanner{s: data}
	ok = s.document(func() bool {
		return s.fields(envelopeFields, func(i int) bool {
			switch i {
			case 0:
				return s.stringInto(&env.PayloadType)
			case 1:
				return s.stringInto(&env.Payload)
			}
			if s.null() {
				env.Signatures = nil
				return true
			}
			sigs := []dsse.Signature{}
			ok := s.array(func() bool {
				var sig dsse.Signature
				if !s.null() && !s.fields(signatureFields, func(i int) bool {
					if i == 0 {
						return s.stringInto(&sig.KeyID)
					}
					return s.stringInto(&sig.Sig)
				}) {
					return false
				}
				sigs = append(sigs, sig)
				return true
			})
			env.Signatures = sigs
			return ok
		})
	})
	return env, ok
}

// scanner reads JSON from s. Its methods return false on anything the
// fast path leaves to encoding/json (see above), and then the scanner's
// position is meaningless.
type scanner struct {
	s       string
	i       int
	depth   int
	coerced bool // a string held invalid UTF-8 (coerced to U+FFFD)
}

// maxDepth bounds the nesting the scanner follows; deeper documents go to
// encoding/json (which allows 10000).
const maxDepth = 1000

// document decodes one value with value, between optional whitespace.
func (s *scanner) document(value func() bool) bool {
	s.ws()
	if !value() {
		return false
	}
	s.ws()
	return s.i == len(s.s)
}

func (s *scanner) ws() {
	for s.i < len(s.s) {
		switch s.s[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next skips whitespace and returns the next byte, 0 at the end.
func (s *scanner) next() byte {
	s.ws()
	if s.i < len(s.s) {
		return s.s[s.i]
	}
	return 0
}

// null consumes a null literal, if that comes next.
func (s *scanner) null() bool {
	if s.next() == 'n' && strings.HasPrefix(s.s[s.i:], "null") {
		s.i += len("null")
		return true
	}
	return false
}

// object calls field with each key of an object, the scanner before its
// value, which field must consume.
func (s *scanner) object(field func(key string) bool) bool {
	if s.next() != '{' {
		return false
	}
	if s.depth++; s.depth > maxDepth {
		return false
	}
	s.i++
	if s.next() == '}' {
		s.i++
		s.depth--
		return true
	}
	for {
		key, ok := s.str()
		if !ok || s.next() != ':' {
			return false
		}
		s.i++
		if !field(key) {
			return false
		}
		switch s.next() {
		case ',':
			s.i++
		case '}':
			s.i++
			s.depth--
			return true
		default:
			return false
		}
	}
}

// array calls elem for each element of an array, which elem must
// consume.
func (s *scanner) array(elem func() bool) bool {
	if s.next() != '[' {
		return false
	}
	if s.depth++; s.depth > maxDepth {
		return false
	}
	s.i++
	if s.next() == ']' {
		s.i++
		s.depth--
		return true
	}
	for {
		if !elem() {
			return false
		}
		switch s.next() {
		case ',':
			s.i++
		case ']':
			s.i++
			s.depth--
			return true
		default:
			return false
		}
	}
}

// fields decodes an object into a struct whose fields have the JSON
// names names: decode(i) consumes the value of names[i]; other keys are
// skipped. encoding/json also matches keys case-insensitively, and lets a
// repeated key overwrite (or, for a slice, partly overwrite) the value:
// those cases are left to it.
func (s *scanner) fields(names []string, decode func(i int) bool) bool {
	var seen uint64
	return s.object(func(key string) bool {
		for i, n := range names {
			if key == n {
				if seen&(1<<i) != 0 {
					return false
				}
				seen |= 1 << i
				return decode(i)
			}
		}
		for _, n := range names {
			if strings.EqualFold(key, n) {
				return false
			}
		}
		return s.skip()
	})
}

// stringInto decodes a string into dst; null leaves dst as it is, as
// encoding/json does.
func (s *scanner) stringInto(dst *string) bool {
	if s.null() {
		return true
	}
	v, ok := s.str()
	*dst = v
	return ok
}

// strings decodes an array of strings (or null) into dst.
func (s *scanner) strings(dst *[]string) bool {
	if s.null() {
		*dst = nil
		return true
	}
	list := []string{}
	ok := s.array(func() bool {
		var v string
		if !s.stringInto(&v) {
			return false
		}
		list = append(list, v)
		return true
	})
	*dst = list
	return ok
}

// str decodes a string as encoding/json does: escapes resolved, invalid
// UTF-8 and unpaired surrogates coerced to U+FFFD. A string without
// escapes or invalid UTF-8 is a substring of the input (no copy).
func (s *scanner) str() (string, bool) {
	if s.next() != '"' {
		return "", false
	}
	s.i++
	start := s.i
	for s.i < len(s.s) {
		c := s.s[s.i]
		switch {
		case c == '"':
			s.i++
			return s.s[start : s.i-1], true
		case c == '\\' || c < ' ' || c >= utf8.RuneSelf:
			s.i = start
			return s.unquote()
		}
		s.i++
	}
	return "", false
}

// unquote is the slow path of str, from the string's first byte; it
// mirrors encoding/json's unquoteBytes (and its scanner's checks).
func (s *scanner) unquote() (string, bool) {
	var b []byte
	for s.i < len(s.s) {
		c := s.s[s.i]
		switch {
		case c == '"':
			s.i++
			return string(b), true
		case c < ' ':
			return "", false
		case c == '\\':
			if s.i+1 >= len(s.s) {
				return "", false
			}
			switch e := s.s[s.i+1]; e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r := hex4(s.s[s.i:])
				if r < 0 {
					return "", false
				}
				s.i += 6
				if utf16.IsSurrogate(r) {
					if dec := utf16.DecodeRune(r, hex4(s.s[s.i:])); dec != unicode.ReplacementChar {
						s.i += 6
						b = utf8.AppendRune(b, dec)
						continue
					}
					r = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, r)
				continue
			default:
				return "", false
			}
			s.i += 2
		case c < utf8.RuneSelf:
			// A run of plain ASCII (say, a base64 payload whose
			// encoder escapes '/').
			j := s.i + 1
			for j < len(s.s) && s.s[j] >= ' ' && s.s[j] != '"' && s.s[j] != '\\' && s.s[j] < utf8.RuneSelf {
				j++
			}
			b = append(b, s.s[s.i:j]...)
			s.i = j
		default:
			r, size := utf8.DecodeRuneInString(s.s[s.i:])
			if r == utf8.RuneError && size == 1 {
				s.coerced = true
			}
			b = utf8.AppendRune(b, r)
			s.i += size
		}
	}
	return "", false
}

// hex4 decodes the escape \uXXXX at the start of s; -1 if there is none.
func hex4(s string) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range []byte(s[2:6]) {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// skip consumes any value, checking that it is valid JSON.
func (s *scanner) skip() bool {
	switch c := s.next(); {
	case c == '{':
		return s.object(func(string) bool { return s.skip() })
	case c == '[':
		return s.array(s.skip)
	case c == '"':
		_, ok := s.str()
		return ok
	case c == '-' || '0' <= c && c <= '9':
		return s.number()
	}
	for _, lit := range []string{"true", "false", "null"} {
		if strings.HasPrefix(s.s[s.i:], lit) {
			s.i += len(lit)
			return true
		}
	}
	return false
}

// number consumes a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	digits := func() int {
		n := 0
		for s.i < len(s.s) && '0' <= s.s[s.i] && s.s[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.s[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.s) && s.s[s.i] == '0':
		s.i++
	case digits() == 0:
		return false
	}
	if s.i < len(s.s) && s.s[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return false
		}
	}
	if s.i < len(s.s) && (s.s[s.i] == 'e' || s.s[s.i] == 'E') {
		s.i++
		if s.i < len(s.s) && (s.s[s.i] == '+' || s.s[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}
