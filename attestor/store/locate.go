package store

// Kinds of Location: where in a store an attestation was found.
const (
	// LocationFile is a file (the workspace): Ref is its path.
	LocationFile = "file"
	// LocationCosign is a layer of the cosign .att image of an image:
	// Ref is the .att tag, "@", and the layer's digest.
	LocationCosign = "cosign-att"
	// LocationReferrer is an OCI 1.1 referrer of an image: Ref is the
	// referrer's manifest, REPO@sha256:....
	LocationReferrer = "referrer"
	// LocationOccurrence is a Grafeas occurrence: Ref is its name,
	// projects/P/occurrences/ID.
	LocationOccurrence = "occurrence"
)

// Location says where a copy of an attestation was found. Its fields come
// from the store (a file name, a tag, an occurrence name the server
// chose): like everything read, they are data, never trusted.
type Location struct {
	// Source is the name of the source that found it ("dir", "oci",
	// "grafeas"), set by the caller that named the sources.
	Source string `json:"source,omitempty"`
	// Kind is one of the Location… kinds.
	Kind string `json:"kind"`
	// Ref names the copy within the store (see the kinds).
	Ref string `json:"ref"`
}

// Located is one copy of an attestation and where it was found.
type Located struct {
	Attestation
	Location Location
}
