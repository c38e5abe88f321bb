// Package testkit holds the checks and fixtures that the tests of several
// packages share: the verification summary as its consumers check it
// (CheckVSA), and the in-process registry's images (see image.go). Only
// tests import it: TestLayering (attestor/deps_test.go) refuses it in
// code.
package testkit
