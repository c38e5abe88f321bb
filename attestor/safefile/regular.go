package safefile

import (
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/attestor/attestor/attestor/fault"
)

// Open opens the file path for reading and checks that it is a
// regular file, without ever blocking: a FIFO, socket or device planted at
// path (by anything that can write where attestor reads) is refused with
// an error matching fault.ErrInvalidInput that names path and what it is, before
// anything is read from it. A final symbolic link is followed. A missing
// file is an error matching fs.ErrNotExist (and not fault.ErrInvalidInput). The
// caller closes the file.
func Open(path string) (*os.File, fs.FileInfo, error) {
	f, err := OpenNonBlocking(path)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fault.Invalidf("%s is %s, not a regular file", path, Kind(fi.Mode()))
	}
	return f, fi, nil
}

// Read reads the regular file path (see Open), at most limit
// bytes: a larger file is an error matching fault.ErrTooLarge and
// fault.ErrInvalidInput, naming path and the limit.
func Read(path string, limit int64) ([]byte, error) {
	f, fi, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi.Size() > limit {
		return nil, fault.Invalid(fmt.Errorf("%s is %d bytes, more than the %d allowed: %w", path, fi.Size(), limit, fault.ErrTooLarge))
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fault.Invalid(fmt.Errorf("%s is more than the %d bytes allowed: %w", path, limit, fault.ErrTooLarge))
	}
	return data, nil
}

// Kind says what kind of file a mode is, for errors: "a FIFO", "a
// directory", ...
func Kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return fmt.Sprintf("of mode %v", m)
}
