package gate

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// signingKey names the key that made a signature, whatever the kind of
// functionary it was accepted for: the hex SHA-256 of the key's PKIX
// SubjectPublicKeyInfo (DER, as x509.MarshalPKIXPublicKey encodes it). A
// key functionary's key and the key of a keyless signing certificate are
// the same signer when their signing keys are equal.
func signingKey(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encoding the signing key: %w", err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}

// signerSet is who signed something the policy counts (a step's records
// that agree, a provenance, a required attestation): each distinct signing
// key, and the functionaries allowed there that it was accepted for (by
// key, or by a certificate's identity), with the signer id of each.
type signerSet map[string]map[string]string // signing key → functionary → signer id

// add adds the signers of e among the functionaries allowed. It reports
// whether there was one.
func (vr *verification) addSigners(set signerSet, e *fetched, allowed []string) bool {
	found := false
	for _, id := range e.keyIDs {
		key := e.keys[id]
		if key == "" {
			continue // fail closed: a signer of no known key counts for nothing
		}
		for _, f := range vr.v.functionary[id] {
			if !slices.Contains(allowed, f) {
				continue
			}
			if set[key] == nil {
				set[key] = map[string]string{}
			}
			set[key][f] = id
			found = true
		}
	}
	return found
}

// signerMatch is one signer counted: a functionary and the key it signed
// with.
type signerMatch struct {
	functionary, id, key string
}

// count returns the signers the set counts for: a largest matching of
// distinct signing keys to distinct functionaries. A key counts once,
// however many functionaries it was accepted for (one certificate whose
// identity two keyless functionaries match; a key functionary's key in a
// certificate), and a functionary once, however many keys it signed with
// (several certificates of one identity). The result is sorted by label.
func (s signerSet) count() []signerMatch {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	keyOf := map[string]string{} // functionary → key matched to it
	// augment finds a functionary for key, moving others along (Kuhn's
	// augmenting paths; a policy has a handful of functionaries).
	var augment func(key string, seen map[string]bool) bool
	augment = func(key string, seen map[string]bool) bool {
		fs := make([]string, 0, len(s[key]))
		for f := range s[key] {
			fs = append(fs, f)
		}
		sort.Strings(fs)
		for _, f := range fs {
			if seen[f] {
				continue
			}
			seen[f] = true
			if other, taken := keyOf[f]; !taken || augment(other, seen) {
				keyOf[f] = key
				return true
			}
		}
		return false
	}
	for _, k := range keys {
		augment(k, map[string]bool{})
	}
	matched := make([]signerMatch, 0, len(keyOf))
	for f, k := range keyOf {
		matched = append(matched, signerMatch{functionary: f, id: s[k][f], key: k})
	}
	sort.Slice(matched, func(i, j int) bool { return matched[i].label() < matched[j].label() })
	return matched
}

// labels returns the labels of every functionary that signed, sorted.
func (s signerSet) labels() []string {
	var all []string
	for _, fs := range s {
		for f, id := range fs {
			all = append(all, signerLabel(f, id))
		}
	}
	sort.Strings(all)
	return slices.Compact(all)
}

func (m signerMatch) label() string { return signerLabel(m.functionary, m.id) }

// labelsOf returns the labels of matched signers, in order.
func labelsOf(matched []signerMatch) []string {
	labels := make([]string, len(matched))
	for i, m := range matched {
		labels[i] = m.label()
	}
	return labels
}

// thresholdReason says why a threshold was not met: how many distinct
// signing keys count, of how many required, and, when some signers did not
// count, why.
func thresholdReason(set signerSet, matched []signerMatch, threshold int) string {
	msg := fmt.Sprintf("%d distinct signing %s of the %d required", len(matched), plural(len(matched), "key", "keys"), threshold)
	functionaries := map[string]bool{}
	for _, fs := range set {
		for f := range fs {
			functionaries[f] = true
		}
	}
	var why []string
	if len(functionaries) > len(matched) {
		why = append(why, "a key counts once, for one functionary")
	}
	if len(set) > len(matched) {
		why = append(why, "a functionary counts once, however many keys it signed with")
	}
	if len(why) > 0 {
		msg = fmt.Sprintf("%d distinct signing %s counted, of the %d required (%s signed with %d %s: %s)",
			len(matched), plural(len(matched), "key", "keys"), threshold,
			strings.Join(set.labels(), ", "), len(set), plural(len(set), "key", "keys"), strings.Join(why, "; "))
	}
	return msg
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
