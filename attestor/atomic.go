package attestor

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFileAtomic writes data to path so that readers see either the old
// file or the whole new one, never a part: it writes a temporary file in the
// same directory, syncs it, and renames it over path. perm applies to the new
// file.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return writeAtomic(path, writeBytes(data), perm, os.Rename)
}

// writeFileAtomicFunc is WriteFileAtomic for content that write streams.
// When write fails, nothing is left behind.
func writeFileAtomicFunc(path string, write func(io.Writer) error, perm os.FileMode) error {
	return writeAtomic(path, write, perm, os.Rename)
}

func writeBytes(data []byte) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}
}

// CreateFileAtomic is WriteFileAtomic for a file that must not exist yet:
// the complete temporary file is hard-linked to path, which fails, with an
// error matching fs.ErrExist, when path exists. Of two concurrent calls for
// one path exactly one succeeds.
func CreateFileAtomic(path string, data []byte, perm os.FileMode) error {
	return writeAtomic(path, writeBytes(data), perm, func(tmp, path string) error {
		err := os.Link(tmp, path)
		os.Remove(tmp)
		return err
	})
}

func writeAtomic(path string, write func(io.Writer) error, perm os.FileMode, publish func(tmp, path string) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = write(f); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = publish(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
