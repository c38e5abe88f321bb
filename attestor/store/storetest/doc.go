// Package storetest is the conformance suite of store.Store: every
// implementation (store/local, store/oci, store/grafeas) runs Run against a
// fresh instance in its tests and passes it.
//
// The suite checks what the Store contract promises: Put then Get returns
// the attestation byte for byte; putting the same attestation twice (even
// re-encoded) leaves one copy; concurrent Puts to one subject lose nothing;
// a subject with nothing stored returns no attestations and no error; one
// subject never sees another's attestations; an envelope larger than
// store.MaxEnvelopeSize is refused with store.ErrTooLarge and leaves what
// was stored intact.
package storetest
