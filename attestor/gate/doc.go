// Package gate is the release gate: it reads a declarative policy, fetches
// the attestations of a subject (an image or a file) from one or more
// stores, verifies every envelope's signature against the policy's
// functionaries and checks the chain: every step present with at least its
// threshold of distinct trusted signers (distinct signing keys, each for
// one functionary) agreeing on materials and products, the in-toto artifact rules across steps, the subject among the
// final products, the SLSA provenance (signer, subject, builder, build
// type, source, ref, age, and the step records it binds) and any other
// required attestation. The result is a typed, JSON-serializable value
// with every reason a check failed, and a verification summary
// attestation (SLSA VSA v1) can be made of it.
//
// The gate fails closed: a policy with no steps, a threshold below 1, a
// missing step, an untrusted or unknown signer, an expired policy, a
// statement about another artifact, a tampered envelope, or no
// attestations at all is a failure, never a pass. Every check is on; no
// option skips one.
//
// The gate verifies; it imports no store client (the stores it reads are
// given to it as store.Store and Locator) and writes nothing. What acts on
// its verdict sits above it: package promote copies a verified image and
// attaches its promotion attestations. VerifyLayout verifies classic
// in-toto layouts over legacy links. Inspect lists a subject's
// attestations with every place each was found (Locator), optionally
// checked against a key or a policy; NewGraph draws a verification's chain
// (Mermaid, DOT).
package gate
