package attestor

import (
	"github.com/attestor/attestor/attestor/hashing"
	ita1 "github.com/in-toto/attestation/go/v1"
)

// compactDescriptors returns rds in the compact form, or false when one of
// them carries more than a name and digests of the Hasher's algorithms
// (a URI, content, a media type, annotations, another algorithm).
func compactDescriptors(rds []*ita1.ResourceDescriptor) ([]hashing.FileSum, bool) {
	if rds == nil {
		return nil, true
	}
	hs := make([]hashing.FileSum, len(rds))
	for i, rd := range rds {
		if rd.GetUri() != "" || len(rd.GetContent()) > 0 || rd.GetDownloadLocation() != "" ||
			rd.GetMediaType() != "" || rd.GetAnnotations() != nil || len(rd.GetDigest()) == 0 {
			return nil, false
		}
		if d := rd.GetDigest(); len(d) == 1 && hashing.IsHex64(d[hashing.DirHashAlgorithm]) {
			hs[i] = hashing.FileSum{Name: rd.GetName(), DirHash: d[hashing.DirHashAlgorithm]}
			continue
		}
		s, ok := hashing.SumsOf(rd.GetDigest())
		if !ok {
			return nil, false
		}
		hs[i] = hashing.FileSum{Name: rd.GetName(), Sums: s}
	}
	return hs, true
}

// shareUnchanged returns products with every artifact that is also a
// material, with the same digests, replaced by the material: a step over a
// large tree changes few files, and sharing the names leaves the products'
// own copies to the garbage collector. Both lists are sorted by name, as
// the Hasher returns them.
func shareUnchanged(materials, products []hashing.FileSum) []hashing.FileSum {
	j := 0
	for i := range products {
		p := &products[i]
		for j < len(materials) && materials[j].Name < p.Name {
			j++
		}
		if j == len(materials) {
			break
		}
		if m := &materials[j]; m.Name == p.Name && m.Sums == p.Sums && m.DirHash == p.DirHash {
			*p = *m
		}
	}
	return products
}
