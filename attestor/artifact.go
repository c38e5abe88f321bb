package attestor

import (
	"strings"

	ita1 "github.com/in-toto/attestation/go/v1"
)

// sums are the hex digests of one file, by index in cacheAlgorithms
// (sha256, sha384, sha512: the algorithms a Hasher computes); "" for an
// algorithm not computed.
type sums [len(cacheAlgorithms)]string

// digest returns the sums as a descriptor's digest map.
func (s *sums) digest() map[string]string {
	n := 0
	for _, v := range s {
		if v != "" {
			n++
		}
	}
	d := make(map[string]string, n)
	for i, v := range s {
		if v != "" {
			d[cacheAlgorithms[i].name] = v
		}
	}
	return d
}

// valid reports whether s holds at least one digest and each is lowercase
// hex of its algorithm's size.
func (s *sums) valid() bool {
	n := 0
	for i, v := range s {
		if v == "" {
			continue
		}
		if len(v) != 2*cacheAlgorithms[i].size || strings.IndexFunc(v, func(r rune) bool {
			return (r < '0' || r > '9') && (r < 'a' || r > 'f')
		}) >= 0 {
			return false
		}
		n++
	}
	return n > 0
}

// sumsOf returns the sums of a descriptor's digest map, or false when it
// holds an algorithm that is not one of cacheAlgorithms.
func sumsOf(d map[string]string) (sums, bool) {
	var s sums
	for alg, v := range d {
		i := cacheAlgorithm(alg)
		if i < 0 {
			return sums{}, false
		}
		s[i] = v
	}
	return s, true
}

// fileSum is a recorded file in the compact form the Hasher produces and
// the Recorder keeps: a name and its sums. A protobuf ResourceDescriptor
// with its digest map costs some 580 bytes; this costs 64 plus the name,
// and the hex digests are shared with the hash cache. A step over 20,000
// files keeps its materials and products in about 3 MB instead of 23.
type fileSum struct {
	name string
	sums sums
	// dirHash, when set, makes this a directory recorded as one artifact
	// (WithDirHash): its digest is {"dirHash": dirHash} alone, and sums
	// is empty.
	dirHash string
}

// digest returns the artifact's digest map.
func (f *fileSum) digest() map[string]string {
	if f.dirHash != "" {
		return map[string]string{DirHashAlgorithm: f.dirHash}
	}
	return f.sums.digest()
}

// isHex64 reports whether v is 64 lowercase hex digits (a sha256 or a
// dirHash).
func isHex64(v string) bool {
	return len(v) == 64 && strings.IndexFunc(v, func(r rune) bool {
		return (r < '0' || r > '9') && (r < 'a' || r > 'f')
	}) < 0
}

// descriptors returns hs as resource descriptors.
func descriptors(hs []fileSum) []*ita1.ResourceDescriptor {
	if hs == nil {
		return nil
	}
	rds := make([]*ita1.ResourceDescriptor, len(hs))
	for i := range hs {
		rds[i] = &ita1.ResourceDescriptor{Name: hs[i].name, Digest: hs[i].digest()}
	}
	return rds
}

// compactDescriptors returns rds in the compact form, or false when one of
// them carries more than a name and digests of the Hasher's algorithms
// (a URI, content, a media type, annotations, another algorithm).
func compactDescriptors(rds []*ita1.ResourceDescriptor) ([]fileSum, bool) {
	if rds == nil {
		return nil, true
	}
	hs := make([]fileSum, len(rds))
	for i, rd := range rds {
		if rd.GetUri() != "" || len(rd.GetContent()) > 0 || rd.GetDownloadLocation() != "" ||
			rd.GetMediaType() != "" || rd.GetAnnotations() != nil || len(rd.GetDigest()) == 0 {
			return nil, false
		}
		if d := rd.GetDigest(); len(d) == 1 && isHex64(d[DirHashAlgorithm]) {
			hs[i] = fileSum{name: rd.GetName(), dirHash: d[DirHashAlgorithm]}
			continue
		}
		s, ok := sumsOf(rd.GetDigest())
		if !ok {
			return nil, false
		}
		hs[i] = fileSum{name: rd.GetName(), sums: s}
	}
	return hs, true
}

// shareUnchanged returns products with every artifact that is also a
// material, with the same digests, replaced by the material: a step over a
// large tree changes few files, and sharing the names leaves the products'
// own copies to the garbage collector. Both lists are sorted by name, as
// the Hasher returns them.
func shareUnchanged(materials, products []fileSum) []fileSum {
	j := 0
	for i := range products {
		p := &products[i]
		for j < len(materials) && materials[j].name < p.name {
			j++
		}
		if j == len(materials) {
			break
		}
		if m := &materials[j]; m.name == p.name && m.sums == p.sums && m.dirHash == p.dirHash {
			*p = *m
		}
	}
	return products
}
