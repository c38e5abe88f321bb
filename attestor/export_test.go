package attestor

// WithPortableWalk exports withPortableWalk to the tests of package
// attestor_test.
var WithPortableWalk = withPortableWalk
