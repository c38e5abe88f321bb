package gate

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/safefile"
)

// readBudget bounds what the gate reads from files that anything running
// in the build could have planted (a workspace's envelopes and bundles,
// the links of a classic layout): each file at most perFile bytes, all of
// them together at most total. plan checks a file's size, from its stat,
// before anything is read; read reads it within what is left. Files are
// opened without blocking and must be regular (safefile.Open): a
// FIFO or device is refused, never waited on.
type readBudget struct {
	total, perFile int64
	planned, done  int64
}

func newReadBudget(total, perFile int64) *readBudget {
	return &readBudget{total: total, perFile: perFile}
}

// plan checks that path is a regular file that fits the budget, with the
// files planned before it, without reading it. A missing file is an error
// matching fs.ErrNotExist; every other error matches
// fault.ErrInvalidInput and names path.
func (b *readBudget) plan(path string) error {
	f, fi, err := openRegular(path)
	if err != nil {
		return err
	}
	f.Close()
	return b.charge(&b.planned, path, fi.Size())
}

// read reads path, a regular file, within the budget: its size is checked
// again (the file may have changed since it was planned), and a file that
// changes while it is read is refused. Every error matches
// fault.ErrInvalidInput and names path.
func (b *readBudget) read(path string) ([]byte, error) {
	f, fi, err := openRegular(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fault.Invalid(fmt.Errorf("%s was removed while the gate read the workspace: %w", path, err))
		}
		return nil, err
	}
	defer f.Close()
	size := fi.Size()
	if err := b.charge(&b.done, path, size); err != nil {
		return nil, err
	}
	// Exactly the size stated: a file that shrinks, or grows (one of
	// /proc's, whose size says 0), is refused.
	data := make([]byte, size)
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, fault.Invalid(fmt.Errorf("reading %s: it changed while it was read: %w", path, err))
	}
	if n, _ := f.Read(make([]byte, 1)); n > 0 {
		return nil, fault.Invalid(fmt.Errorf("reading %s: it grew while it was read: %w", path, fault.ErrTooLarge))
	}
	return data, nil
}

// charge adds size bytes of path to *used, or says which bound it exceeds.
func (b *readBudget) charge(used *int64, path string, size int64) error {
	if size > b.perFile {
		return fault.Invalid(fmt.Errorf("%s is %d bytes, more than the %d allowed: %w", path, size, b.perFile, fault.ErrTooLarge))
	}
	if *used+size > b.total {
		return fault.Invalid(fmt.Errorf("%s brings the total the gate reads to %d bytes, more than its bound of %d bytes (%d MiB): %w",
			path, *used+size, b.total, b.total>>20, fault.ErrTooLarge))
	}
	*used += size
	return nil
}

// openRegular opens path with safefile.Open: a missing file is an
// error matching fs.ErrNotExist, every other one matches
// fault.ErrInvalidInput.
func openRegular(path string) (*os.File, fs.FileInfo, error) {
	f, fi, err := safefile.Open(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fault.ErrInvalidInput) {
		return nil, nil, fault.Invalid(err)
	}
	return f, fi, err
}
