// Package provenance builds the SLSA provenance of a build: an in-toto
// Statement whose predicate is SLSA Provenance v1.0
// (https://slsa.dev/provenance/v1, the default) or v0.2
// (https://slsa.dev/provenance/v0.2), from the build's step records, the
// digests of their signed envelopes and the facts of the CI platform
// (package actions).
//
// The statement binds the whole chain: every step record is listed by the
// sha256 of its signed envelope as stored in the workspace, in
// runDetails.byproducts (v1) or in materials (v0.2, which has no
// byproducts). resolvedDependencies (materials in v0.2) hold the source
// commit, as git+REPO@REF with its sha1 digest (also as gitCommit), and every
// material of the first step.
//
// The package does no I/O: callers read the envelopes ([ReadStep]), hash the
// subjects and resolve images, detect the platform, then call [Build] and
// sign the result with envelope.SignStatement. It imports no network
// client.
package provenance
