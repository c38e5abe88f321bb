// Package oci is the store.Store over an OCI registry: it attaches signed
// attestations to an image's manifest digest, and fetches them back, in
// the two schemes that verifiers read.
//
// # Schemes
//
// The cosign scheme is the one cosign attest writes and cosign
// verify-attestation and admission controllers (policy-controller,
// Kyverno) read: an image tagged sha256-<hex>.att in the image's
// repository, with one layer per attestation. Each layer is the DSSE
// envelope, media type application/vnd.dsse.envelope.v1+json, annotated
// with the statement's predicateType and an empty
// dev.cosignproject.cosign/signature; the manifest is an OCI image
// manifest whose config is an OCI image config. The tag is read, merged
// and written back, so Put re-reads, merges and retries when another
// writer got there first, and checks after writing that its layers are
// there.
//
// A keyless attestation (one whose sigstore bundle holds a Fulcio
// certificate) gets the layer cosign attest writes with a certificate,
// which cosign verify-attestation --certificate-identity verifies: the
// envelope exactly as its Rekor entry hashed it (sigstore-go sends Rekor
// the envelope without keyids), annotated also with the certificate
// (AnnotationCertificate), its chain from its parent to the root
// (AnnotationChain, from WithTrustedMaterial; empty without), the Rekor
// entry with its signed entry timestamp (AnnotationRekorBundle) and the
// digest of the envelope put (AnnotationEnvelopeDigest). RFC 3161
// timestamps are not carried: cosign's timestamp annotation covers other
// bytes than a bundle's. Get makes of these annotations a sigstore bundle
// (v0.1, whose log entries need no inclusion proof) that verifiers such as
// the gate verify as any other, against their own trusted root (the chain
// is not used), puts the keyid back, and prefers the referrer's bundle of
// the same attestation where there is one.
//
// The referrers scheme is OCI 1.1: one manifest per attestation whose
// subject is the image, artifactType and single layer a sigstore bundle
// (application/vnd.dev.sigstore.bundle.v0.3+json) carrying the envelope.
// Registries with the referrers API index them; on the others the
// referrers tag fallback (an index tagged sha256-<hex>) is updated, and
// checked after writing as the .att tag is. A key-signed envelope gets a
// bundle built here, with a public key hint as verification material.
//
// Put writes the schemes chosen with WithScheme (both by default); Get
// always reads both and returns each attestation once, deduplicated by
// store.Attestation.Digest.
//
// # Safety
//
// Put is idempotent and additive: it never removes or rewrites another
// attestation, blobs are uploaded before the manifest that names them,
// and a Put that fails midway leaves what was there. Get is bounded: at
// most MaxLayers layers and MaxReferrers referrers, manifests of at most
// MaxManifestSize bytes, envelopes of at most store.MaxEnvelopeSize, a
// total read budget (DefaultReadLimit), per-request and per-call time
// limits (60s, and WithTimeout), at most 10 redirects per request
// (never from https to plain http unless WithInsecure; a redirect loop
// fails with ErrTooManyRedirects), and at most 64 KiB read of an answer
// that is not a success. Larger or malformed items are skipped and
// logged; a hostile registry cannot make it read without bound or hang.
//
// Requests are retried with exponential backoff on 408, 429 (honouring
// Retry-After), 5xx and connection resets, each tried at most 5 times
// (go-containerregistry's own retries do not repeat them). Reads (manifests, blobs, the
// referrers list, the .att image) are read whole within each attempt's
// time limit, so that an answer that never comes, is cut short or stalls
// is retried too; writes are never sent again in a way that could
// duplicate them. A registry that still fails returns an error matching
// fault.ErrUnavailable. Credentials come from
// the docker config and credential helpers (authn.DefaultKeychain),
// GITHUB_TOKEN for ghcr.io, or WithBasicAuth, and never appear in logs or
// errors. Plain HTTP is used only for loopback registries unless
// WithInsecure is given.
//
// WithDryRun sends every write to a DryRun instead of the registry, which
// records and saves it; reads still go to the registry.
package oci
