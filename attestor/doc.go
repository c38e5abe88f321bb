// Package attestor is the engine of the attestor build attestor: it records
// one build step (the files that went in, the command that ran, the files that
// came out) and signs that record.
//
// A step is recorded by a [Recorder], which hashes materials with a [hashing.Hasher],
// runs the wrapped command with its output streamed live, hashes products and
// signs the result with an [envelope.Signer] into a [workspace.Workspace]. The signed record is an
// in-toto Statement v1 with the link predicate
// (https://in-toto.io/attestation/link/v0.3) in a DSSE envelope, and on
// request also the classic in-toto v0.9 link that the in-toto reference
// verifiers accept.
//
// This package does no network I/O; signers that talk to a KMS or to
// Fulcio live in attestor/sign and are passed in through the [envelope.Signer]
// interface.
//
// The leaf packages below it: fault (error classes), safefile (file I/O),
// envelope (DSSE), workspace (the workspace and its names) and hashing
// (the walk, the digests, the cache).
package attestor
