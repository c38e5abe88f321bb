package hashing

import (
	"strings"

	ita1 "github.com/in-toto/attestation/go/v1"
)

// Sums are the hex digests of one file, by index in cacheAlgorithms
// (sha256, sha384, sha512: the algorithms a Hasher computes); "" for an
// algorithm not computed.
type Sums [len(Algorithms)]string

// Digest returns the sums as a descriptor's digest map.
func (s *Sums) Digest() map[string]string {
	n := 0
	for _, v := range s {
		if v != "" {
			n++
		}
	}
	d := make(map[string]string, n)
	for i, v := range s {
		if v != "" {
			d[Algorithms[i].Name] = v
		}
	}
	return d
}

// Valid reports whether s holds at least one digest and each is lowercase
// hex of its algorithm's size.
func (s *Sums) Valid() bool {
	n := 0
	for i, v := range s {
		if v == "" {
			continue
		}
		if len(v) != 2*Algorithms[i].Size || strings.IndexFunc(v, func(r rune) bool {
			return (r < '0' || r > '9') && (r < 'a' || r > 'f')
		}) >= 0 {
			return false
		}
		n++
	}
	return n > 0
}

// SumsOf returns the sums of a descriptor's digest map, or false when it
// holds an algorithm that is not one of cacheAlgorithms.
func SumsOf(d map[string]string) (Sums, bool) {
	var s Sums
	for alg, v := range d {
		i := cacheAlgorithm(alg)
		if i < 0 {
			return Sums{}, false
		}
		s[i] = v
	}
	return s, true
}

// FileSum is a recorded file in the compact form the Hasher produces and
// the Recorder keeps: a name and its sums. A protobuf ResourceDescriptor
// with its digest map costs some 580 bytes; this costs 64 plus the name,
// and the hex digests are shared with the hash cache. A step over 20,000
// files keeps its materials and products in about 3 MB instead of 23.
type FileSum struct {
	Name string
	Sums Sums
	// DirHash, when set, makes this a directory recorded as one artifact
	// (WithDirHash): its digest is {"DirHash": DirHash} alone, and sums
	// is empty.
	DirHash string
}

// Digest returns the artifact's digest map.
func (f *FileSum) Digest() map[string]string {
	if f.DirHash != "" {
		return map[string]string{DirHashAlgorithm: f.DirHash}
	}
	return f.Sums.Digest()
}

// IsHex64 reports whether v is 64 lowercase hex digits (a sha256 or a
// dirHash).
func IsHex64(v string) bool {
	return len(v) == 64 && strings.IndexFunc(v, func(r rune) bool {
		return (r < '0' || r > '9') && (r < 'a' || r > 'f')
	}) < 0
}

// Descriptors returns hs as resource Descriptors.
func Descriptors(hs []FileSum) []*ita1.ResourceDescriptor {
	if hs == nil {
		return nil
	}
	rds := make([]*ita1.ResourceDescriptor, len(hs))
	for i := range hs {
		rds[i] = &ita1.ResourceDescriptor{Name: hs[i].Name, Digest: hs[i].Digest()}
	}
	return rds
}
