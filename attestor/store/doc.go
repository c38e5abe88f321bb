// Package store declares the one small interface through which attestations
// are put and got for a subject, whatever holds them: the workspace
// directory (store/local), an OCI registry (store/oci) or a Grafeas metadata
// server (store/grafeas). store/storetest is the conformance suite every
// implementation passes.
package store
