//go:build unix

package safefile

import (
	"os"

	"golang.org/x/sys/unix"
)

// OpenNonBlocking opens path read-only with O_NONBLOCK, so that opening a
// FIFO returns at once (a plain open blocks until a writer appears) and
// opening a terminal does not make it the controlling one. Reads of a
// regular file ignore O_NONBLOCK.
func OpenNonBlocking(path string) (*os.File, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), nil
	}
}
