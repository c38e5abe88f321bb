package attestor

// WithPortableWalk exports withPortableWalk to the tests of package
// attestor_test.
var WithPortableWalk = withPortableWalk

// Update reports the -update flag to the tests of package attestor_test.
func Update() bool { return *update }
