//go:build !unix

package attestor

import "os"

// openNonBlocking opens path read-only. Outside Unix, a file system path
// cannot be a FIFO that blocks its reader (Windows' named pipes live in
// \\.\pipe\), so a plain open is enough; OpenRegular checks the type.
func openNonBlocking(path string) (*os.File, error) { return os.Open(path) }
