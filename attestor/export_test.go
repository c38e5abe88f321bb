package attestor

// Update reports the -update flag to the tests of package attestor_test.
func Update() bool { return *update }

// WithCI (tests only: the CLI detects the facts, WithCIDetect) records
// the facts of the CI platform in the record's environment.
// Values must be JSON values: strings, booleans, integers, objects, lists.
func WithCI(facts map[string]any) Option {
	return func(o *recorderOptions) error {
		o.ci = facts
		return nil
	}
}

// ImageName returns the name an image artifact is recorded under for the
// reference ref (with or without the oci:// prefix): oci://REGISTRY/REPO,
// without tag or digest. The digest identifies the image; the name is
// what a policy's rules match, and is the same in every step whether the
// step names the image by a tag or by its digest (a tag is a movable
// pointer: recording it would make the same image under two tags two
// artifacts, and the tag a step was given says nothing the digest does
// not). A malformed reference is a fault.ErrInvalidInput error.
func ImageName(ref string) (string, error) {
	r, err := parseImage(ref)
	if err != nil {
		return "", err
	}
	return r.name, nil
}
