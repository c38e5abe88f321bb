// Package local is the store.Store over a directory: what push --dry-run
// writes and what verify --from dir reads.
//
// A Dir keeps one subdirectory per subject and one file per attestation,
// named by the attestation's digest (store.Attestation.Digest):
//
//	<root>/<alg>-<hex>/n-<escaped subject name>/<digest>.dsse.json
//	<root>/<alg>-<hex>/n-<escaped subject name>/<digest>.bundle.json (when there is a bundle)
//
// Every file is written atomically and named by its content, so putting an
// attestation twice leaves one copy and concurrent writers, in one process
// or several, never lose each other's attestations.
//
// ReadWorkspace reads the signed envelopes of a build's workspace (step
// records and provenance) as attestations, for push.
package local
