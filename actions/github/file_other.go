//go:build !unix

package github

import "os"

// openAppendNonBlocking opens path for appending. Outside Unix a file
// system path cannot be a FIFO that blocks its opener.
func openAppendNonBlocking(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
}
