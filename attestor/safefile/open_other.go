//go:build !unix

package safefile

import "os"

// OpenNonBlocking opens path read-only. Outside Unix, a file system path
// cannot be a FIFO that blocks its reader (Windows' named pipes live in
// \\.\pipe\), so a plain open is enough; Open checks the type.
func OpenNonBlocking(path string) (*os.File, error) { return os.Open(path) }
