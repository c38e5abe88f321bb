//go:build !linux

package attestor

// openedPath cannot name an open file's path here: callers resolve the
// path again instead.
func openedPath(int) (string, bool) { return "", false }
