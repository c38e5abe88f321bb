package gate

import (
	"fmt"
	"sort"
	"strings"
	"time"

	slsa1 "github.com/in-toto/attestation/go/predicates/provenance/v1"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/provenance"
)

// maxClockSkew is how far in the future a provenance's build time may be
// (clocks differ) before the age check refuses it.
const maxClockSkew = 5 * time.Minute

// checkProvenance checks the provenance the policy requires. It returns
// the envelope digests of the step records the accepted provenance binds,
// or nil when the policy requires no provenance or none was accepted.
func (vr *verification) checkProvenance() map[string]bool {
	pp := vr.p.Provenance
	if pp == nil {
		return nil
	}
	pr := &ProvenanceResult{Verdict: Failed}
	vr.res.Provenance = pr
	var reasons []string
	note := func(format string, args ...any) { reasons = append(reasons, fmt.Sprintf(format, args...)) }
	// The first reason of the first candidate is the one made a failure
	// kind other than ErrProvenance where it fits.
	var kinds []error
	var accepted map[string]bool
	for _, e := range vr.envs {
		if e.st == nil {
			continue
		}
		switch e.st.PredicateType {
		case provenance.PredicateTypeV1:
		case provenance.PredicateTypeV02:
			note("provenance %s is SLSA v0.2: the gate reads %s", short(e.rawDigest), provenance.PredicateTypeV1)
			kinds = append(kinds, ErrProvenance)
			continue
		default:
			continue
		}
		signers := signerSet{}
		if !vr.addSigners(signers, e, pp.Functionaries) {
			note("provenance %s is signed by %s, not by %s", short(e.rawDigest), strings.Join(e.res.Signers, ", "), strings.Join(pp.Functionaries, ", "))
			kinds = append(kinds, ErrUntrustedSigner)
			continue
		}
		if !e.st.about(vr.subject) {
			note("provenance %s is about another artifact, not %s", short(e.rawDigest), vr.subject.Digest)
			kinds = append(kinds, ErrSubjectMismatch)
			continue
		}
		cand, bound, why := vr.candidate(e)
		cand.Signers, cand.Digest = labelsOf(signers.count()), e.rawDigest
		if len(why) > 0 {
			for _, w := range why {
				note("provenance %s: %s", short(e.rawDigest), w)
				kinds = append(kinds, ErrProvenance)
			}
			if accepted == nil {
				*pr = *cand
				pr.Verdict = Failed
			}
			continue
		}
		*pr = *cand
		pr.Verdict = Passed
		accepted = bound
		break
	}
	if accepted != nil {
		return accepted
	}
	for i, r := range reasons {
		vr.fail(kinds[i], "", "%s", r)
	}
	pr.Reasons = append(reasons, vr.fail(ErrProvenance, "", "no acceptable SLSA v1 provenance of %s signed by %s", vr.subject.Digest, strings.Join(pp.Functionaries, ", ")))
	return nil
}

// candidate checks one provenance signed by a provenance functionary and
// about the subject; it returns what it says, the envelope digests of the
// step records it binds, and every reason it is not acceptable.
func (vr *verification) candidate(e *fetched) (*ProvenanceResult, map[string]bool, []string) {
	pp := vr.p.Provenance
	pr := &ProvenanceResult{}
	st, err := envelope.ParseStatement(e.st.payload)
	if err != nil {
		return pr, nil, []string{err.Error()}
	}
	pred, err := provenance.V1Predicate(st)
	if err != nil {
		return pr, nil, []string{err.Error()}
	}
	var why []string
	pr.BuilderID = pred.GetRunDetails().GetBuilder().GetId()
	pr.BuildType = pred.GetBuildDefinition().GetBuildType()
	if len(pp.BuilderIDs) > 0 && !contains(pp.BuilderIDs, pr.BuilderID) {
		why = append(why, fmt.Sprintf("builder id %q is not one of %q", pr.BuilderID, pp.BuilderIDs))
	}
	if len(pp.BuildTypes) > 0 && !contains(pp.BuildTypes, pr.BuildType) {
		why = append(why, fmt.Sprintf("build type %q is not one of %q", pr.BuildType, pp.BuildTypes))
	}
	pr.SourceRepo, pr.Ref = sourceOf(pred)
	if len(vr.p.repoGlobs) > 0 {
		if pr.SourceRepo == "" {
			why = append(why, "names no source repository (git+REPO@REF resolved dependency)")
		} else if !anyMatch(vr.p.repoGlobs, pr.SourceRepo) {
			why = append(why, fmt.Sprintf("source repository %q is not one of %q", pr.SourceRepo, pp.SourceRepos))
		}
	}
	if len(vr.p.refGlobs) > 0 {
		if pr.Ref == "" {
			why = append(why, "names no source ref")
		} else if !anyMatch(vr.p.refGlobs, pr.Ref) {
			why = append(why, fmt.Sprintf("ref %q is not one of %q", pr.Ref, pp.Refs))
		}
	}
	md := pred.GetRunDetails().GetMetadata()
	when := md.GetFinishedOn()
	if when == nil {
		when = md.GetStartedOn()
	}
	if when != nil {
		pr.FinishedOn = when.AsTime().UTC()
	}
	if pp.MaxAge > 0 {
		switch age := vr.now.Sub(pr.FinishedOn); {
		case when == nil:
			why = append(why, fmt.Sprintf("has no build time, and the policy's maxAge is %s", time.Duration(pp.MaxAge)))
		case age < -maxClockSkew:
			why = append(why, fmt.Sprintf("the build finished in the future (at %s)", pr.FinishedOn.Format(time.RFC3339)))
		case age > time.Duration(pp.MaxAge):
			why = append(why, fmt.Sprintf("the build finished %s ago (at %s), more than maxAge %s", age.Truncate(time.Second), pr.FinishedOn.Format(time.RFC3339), time.Duration(pp.MaxAge)))
		}
	}

	// The step records it lists must be here and verified.
	bound := map[string]bool{}
	byDigest := map[string]*fetched{}
	for _, o := range vr.envs {
		byDigest[o.rawDigest] = o
	}
	// A listed digest is the sha256 of the envelope's bytes as written to
	// the workspace; a store that re-encodes envelopes (Grafeas) is
	// matched by store.EnvelopeDigest, computed only when needed.
	lookup := func(d string) *fetched {
		if o := byDigest[d]; o != nil {
			return o
		}
		for _, o := range vr.envs {
			if o.record != nil && o.envelopeDigest() == d {
				return o
			}
		}
		return nil
	}
	listed := append(append([]*slsa1ResourceDescriptor(nil), wrap(pred.GetRunDetails().GetByproducts())...), wrap(pred.GetBuildDefinition().GetResolvedDependencies())...)
	for _, rd := range listed {
		step := rd.annotation(provenance.AnnotationStep)
		if step == "" {
			continue
		}
		d := rd.GetDigest()["sha256"]
		o := lookup(d)
		switch {
		case d == "":
			why = append(why, fmt.Sprintf("lists step record %q without a sha256 digest", rd.GetName()))
		case o == nil:
			why = append(why, fmt.Sprintf("lists step record %q of step %q (sha256 %s) that was not found", rd.GetName(), step, short(d)))
		case o.record == nil:
			why = append(why, fmt.Sprintf("lists step record %q of step %q (sha256 %s) that does not verify", rd.GetName(), step, short(d)))
		case o.record.step != step:
			why = append(why, fmt.Sprintf("lists %q as step %q, but it records step %q", rd.GetName(), step, o.record.step))
		default:
			bound[o.rawDigest] = true
			pr.Steps = append(pr.Steps, o.rawDigest)
		}
	}
	sort.Strings(pr.Steps)
	if len(pr.Steps) == 0 && len(why) == 0 {
		why = append(why, "lists no step records: the chain is not bound to it")
	}
	return pr, bound, why
}

// sourceOf returns the source repository and ref of a provenance: the
// first resolved dependency named git+REPO[@REF].
func sourceOf(p *slsa1.Provenance) (repo, ref string) {
	for _, rd := range p.GetBuildDefinition().GetResolvedDependencies() {
		uri, ok := strings.CutPrefix(rd.GetUri(), "git+")
		if !ok {
			continue
		}
		// The ref follows the last '@' after the scheme's "//".
		rest := uri
		if i := strings.Index(rest, "://"); i >= 0 {
			rest = rest[i+3:]
		}
		if i := strings.LastIndex(rest, "@"); i >= 0 && strings.Contains(rest[:i], "/") {
			cut := len(uri) - len(rest) + i
			return uri[:cut], uri[cut+1:]
		}
		return uri, ""
	}
	return "", ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func anyMatch(ms []matcher, s string) bool {
	for _, m := range ms {
		if m.match(s) {
			return true
		}
	}
	return false
}
