package hashing

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// openedPath returns the path of the file open as fd, as the kernel knows
// it (/proc/self/fd), and false when it cannot tell (no /proc, or a file
// removed since it was opened).
func openedPath(fd int) (string, bool) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlink("/proc/self/fd/"+strconv.Itoa(fd), buf)
	if err != nil || n <= 0 || n == len(buf) || buf[0] != '/' {
		return "", false
	}
	p := string(buf[:n])
	if len(p) > len(" (deleted)") && p[len(p)-len(" (deleted)"):] == " (deleted)" {
		return "", false
	}
	return p, true
}
