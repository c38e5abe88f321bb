package safefile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteAtomic writes data to path so that readers see either the old
// file or the whole new one, never a part: it writes a temporary file in the
// same directory, syncs it, and renames it over path. perm applies to the new
// file.
func WriteAtomic(path string, data []byte, perm os.FileMode) error {
	return writeAtomic(path, writeBytes(data), perm, os.Rename)
}

func writeBytes(data []byte) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}
}

// CreateAtomic is WriteAtomic for a file that must not exist yet:
// the complete temporary file is hard-linked to path, which fails, with an
// error matching fs.ErrExist, when path exists. Of two concurrent calls for
// one path exactly one succeeds.
func CreateAtomic(path string, data []byte, perm os.FileMode) error {
	return writeAtomic(path, writeBytes(data), perm, func(tmp, path string) error {
		err := os.Link(tmp, path)
		os.Remove(tmp)
		return err
	})
}

func writeAtomic(path string, write func(io.Writer) error, perm os.FileMode, publish func(tmp, path string) error) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Abort()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Commit(publish)
}

// File is a file being written atomically: a temporary file in the
// directory of its path until Commit publishes it; Abort removes it.
type File struct {
	*os.File
	path string
	done bool // committed or aborted
}

// Create starts writing path atomically: nothing is at path until Commit.
func Create(path string, perm os.FileMode) (*File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return &File{File: f, path: path}, nil
}

// Commit syncs the file and publishes it at its path (os.Rename, or the
// given publish function).
func (f *File) Commit(publish func(tmp, path string) error) error {
	f.done = true
	if publish == nil {
		publish = os.Rename
	}
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = publish(f.Name(), f.path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", f.path, err)
	}
	return nil
}

// Abort removes the temporary file; after Commit it does nothing.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close()
	os.Remove(f.Name())
}
