//go:build unix

package github

import (
	"os"

	"golang.org/x/sys/unix"
)

// openAppendNonBlocking opens path with O_NONBLOCK: opening a FIFO for
// writing then fails at once (ENXIO) when nothing reads it, instead of
// waiting for a reader.
func openAppendNonBlocking(path string) (*os.File, error) {
	for {
		fd, err := unix.Open(path, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0o644)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), nil
	}
}
