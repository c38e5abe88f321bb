// Package promote acts on the gate's verdict: Image verifies an image with
// a gate.Verifier and, only if it passes, copies it by digest to another
// repository (the same or another registry), attaches a signed
// verification summary (SLSA VSA v1) and the source's verified
// attestations to the copy, and signs the simple-signing payload of a
// Binary Authorization / Kritis attestation (NewSimpleSigning), written as
// an ATTESTATION occurrence on an attestation authority's note when the
// Grafeas store can (AuthorityWriter).
//
// The gate verifies; promote acts. Package gate imports no store client;
// promote sits above the gate and the stores (store/oci for the copy,
// store/grafeas for the occurrences), and no store imports it.
package promote
