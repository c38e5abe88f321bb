//go:build unix

package hashing

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/attestor/attestor/attestor/fault"

	"golang.org/x/sys/unix"
)

// The Unix calls both walkers use: files are opened and stated relative to
// an open directory (openat, fstatat), never through a final symbolic
// link unless the walk listed one, and compared by device and inode.

// fstatat is unix.Fstatat, retried on EINTR.
func fstatat(dirfd int, name string, st *unix.Stat_t, flags int) error {
	for {
		err := unix.Fstatat(dirfd, name, st, flags)
		if err != unix.EINTR {
			return err
		}
	}
}

// openat is unix.Openat, retried on EINTR.
func openat(dirfd int, name string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, flags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// modeOf is the fs.FileMode type of a stat mode.
func modeOf(mode uint32) fs.FileMode {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFREG:
		return 0
	case unix.S_IFLNK:
		return fs.ModeSymlink
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFSOCK:
		return fs.ModeSocket
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		return fs.ModeDevice
	}
	return fs.ModeIrregular
}

// statOf converts a stat (whose field widths differ between systems).
func statOf(st *unix.Stat_t, out *fileStat) {
	*out = fileStat{
		mode:  modeOf(uint32(st.Mode)),
		size:  st.Size,
		mtime: st.Mtim.Nano(),
		ctime: st.Ctim.Nano(),
		dev:   uint64(st.Dev),
		ino:   uint64(st.Ino),
	}
}

// openError explains why a listed file could not be opened for reading.
func openError(name string, err error) error {
	switch {
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%w: %q was removed", ErrArtifactChanged, name)
	case errors.Is(err, unix.ELOOP):
		return fmt.Errorf("%w: %q was replaced by a symbolic link", ErrArtifactChanged, name)
	}
	return fault.Invalid(fmt.Errorf("reading %q: %w", name, err))
}

// fdFile is a file open for a worker, read with plain read(2) calls (an
// os.File would put a FIFO planted since the walk in the poller, where a
// read waits for a writer).
type fdFile int

func (fd fdFile) read(b []byte) (int, error) {
	for {
		n, err := unix.Read(int(fd), b)
		switch err {
		case nil:
			return n, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, nil // not a regular file: the stat says so
		}
		return 0, err
	}
}

func (fd fdFile) stat(st *fileStat) error {
	var raw unix.Stat_t
	if err := unix.Fstat(int(fd), &raw); err != nil {
		return err
	}
	statOf(&raw, st)
	return nil
}

func (fd fdFile) close() { unix.Close(int(fd)) }

// dirHandle is a directory open for portableWalk.
type dirHandle struct {
	f *os.File
}

// openDir opens the directory path, through a final symbolic link only
// when follow is set. A directory replaced by a link, or by something not
// a directory, is an error matching errReplaced.
func openDir(path string, follow bool) (*dirHandle, error) {
	flags := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := openat(unix.AT_FDCWD, path, flags)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ENOENT) {
			return nil, errReplaced
		}
		return nil, err
	}
	return &dirHandle{os.NewFile(uintptr(fd), path)}, nil
}

func (d *dirHandle) fd() int { return int(d.f.Fd()) }

// stat describes the open directory.
func (d *dirHandle) stat(st *fileStat) error {
	var raw unix.Stat_t
	if err := unix.Fstat(d.fd(), &raw); err != nil {
		return err
	}
	statOf(&raw, st)
	return nil
}

// names lists the names of the directory's entries (os.File.Readdirnames).
func (d *dirHandle) names() ([]string, error) { return d.f.Readdirnames(-1) }

// lstat describes the entry name of the directory, relative to the open
// directory (a directory of the path swapped since it was opened is not
// followed); follow stats what a symbolic link leads to. A missing entry
// matches fs.ErrNotExist.
func (d *dirHandle) lstat(name string, follow bool, st *fileStat) error {
	flags := unix.AT_SYMLINK_NOFOLLOW
	if follow {
		flags = 0
	}
	var raw unix.Stat_t
	if err := fstatat(d.fd(), name, &raw, flags); err != nil {
		return err
	}
	statOf(&raw, st)
	return nil
}

func (d *dirHandle) close() { d.f.Close() }

// statPath describes the file path; follow follows a final symbolic link.
func statPath(path string, follow bool, st *fileStat) error {
	flags := unix.AT_SYMLINK_NOFOLLOW
	if follow {
		flags = 0
	}
	var raw unix.Stat_t
	if err := fstatat(unix.AT_FDCWD, path, &raw, flags); err != nil {
		return err
	}
	statOf(&raw, st)
	return nil
}

// pinPath opens path without reading it (following a final symbolic link
// only when follow is set) and describes what it opened. A file it may
// not read is described by path instead (on Linux, O_PATH opens any).
func pinPath(path string, follow bool, st *fileStat) error {
	flags := unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NONBLOCK | unix.O_NOCTTY
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := openat(unix.AT_FDCWD, path, flags)
	if errors.Is(err, unix.EACCES) {
		// The worker's open will fail as the Linux walker's does.
		return statPath(path, follow, st)
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return fdFile(fd).stat(st)
}

// openFile opens the file path for a worker (see walk.open), through a
// final symbolic link only when follow is set.
func openFile(path, name string, follow bool) (fileReader, error) {
	flags := unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NONBLOCK | unix.O_NOCTTY
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := openat(unix.AT_FDCWD, path, flags)
	if err != nil {
		return nil, openError(name, err)
	}
	return fdFile(fd), nil
}

// privateFile reports whether the file fi is owned by the current user and
// writable by no one else.
func privateFile(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Uid == uint32(os.Geteuid()) && fi.Mode().Perm()&0o022 == 0
}
