package hashing

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"unicode/utf8"

	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/safefile"

	"golang.org/x/sys/unix"
)

// The Linux walker: directories are read with getdents into a reused
// buffer, their entries stated with fstatat relative to the open
// directory, named paths pinned with O_PATH, and the path of a file
// reached through a symbolic link read back from /proc/self/fd. It is what
// Hash uses on Linux; portableWalk is the one of other systems.

// walk lists the files to hash. It only reads directories and stats
// (lstat) their entries; it reads directories on several goroutines.
type walk struct {
	walkState
	baseFd  int       // the base directory, open
	dirBufs sync.Pool // *[]byte for readNames
}

// newSystemWalk starts a walk with the Linux walker.
func (h *Hasher) newSystemWalk(ctx context.Context) (walker, error) {
	return h.newDirWalk(ctx)
}

func (h *Hasher) newDirWalk(ctx context.Context) (*walk, error) {
	w := &walk{}
	if err := w.init(ctx, h); err != nil {
		return nil, err
	}
	fd, err := unix.Open(w.realBase, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		w.cancel()
		if errors.Is(err, unix.ENOTDIR) {
			return nil, fault.Invalidf("base directory %q is not a directory", h.baseDir)
		}
		return nil, fault.Invalidf("base directory %q: %w", h.baseDir, err)
	}
	w.baseFd = fd
	return w, nil
}

// close releases the base directory; call it once hashing is done.
func (w *walk) close() {
	w.cancel()
	unix.Close(w.baseFd)
}

func (w *walk) inMemoryFS() bool { return inMemoryFS(w.baseFd) }

// run walks paths and returns the files found, sorted by name, each once.
func (w *walk) run(paths []string) ([]fileEntry, error) {
	return w.collect(paths, w.input)
}

// listed returns the entry of the file name whose stat is st, reached
// through a symbolic link when viaLink is set.
func listed(name string, st *unix.Stat_t, viaLink bool) fileEntry {
	return fileEntry{name: name, out: name, size: st.Size, mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(), dev: uint64(st.Dev), ino: uint64(st.Ino), viaLink: viaLink}
}

func idOf(st *unix.Stat_t) fileID { return fileID{uint64(st.Dev), uint64(st.Ino)} }

// input adds the file, or the files below the directory, p.
func (w *walk) input(p string) error {
	if p == "" {
		return fault.Invalidf("empty path to record")
	}
	name, err := w.rel(p)
	if err != nil {
		return err
	}
	// As in the reference implementation, the named paths are matched
	// against the exclude patterns too.
	if w.h.excludes.excluded(name) {
		return nil
	}
	var st unix.Stat_t
	if err := fstatat(w.baseFd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return fault.Invalidf("recording %q: no such file or directory", p)
		}
		return fault.Invalid(fmt.Errorf("recording %q: %w", p, err))
	}
	isLink := st.Mode&unix.S_IFMT == unix.S_IFLNK
	if err := w.checkInside(p, name, isLink); err != nil {
		return err
	}
	if isLink {
		if err := fstatat(w.baseFd, name, &st, 0); err != nil {
			return fault.Invalid(fmt.Errorf("recording %q: broken symbolic link: %w", p, err))
		}
	}
	if err := w.pin(p, name, isLink, idOf(&st)); err != nil {
		return err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		if !utf8.ValidString(name) {
			return fault.Invalidf("recording %q: the name is not valid UTF-8", name)
		}
		w.add([]fileEntry{listed(name, &st, isLink)})
		return nil
	case unix.S_IFDIR:
		if w.h.excludes.prune(name) {
			return nil
		}
		w.walkDir(subdir{name, idOf(&st), isLink}, nil, w.readDir)
		return nil
	default:
		return fault.Invalidf("recording %q: not a regular file or directory (%v)", p, safefile.Kind(modeOf(uint32(st.Mode))))
	}
}

// pin checks that what the named path p (name, relative to the base
// directory) leads to now is the file id and lies inside the base
// directory: the stat above follows every directory of the path, and one
// of them may have been swapped for a symbolic link to a directory
// outside since checkInside resolved it. It opens the name (O_PATH: the
// file is not read; the final link followed only when follow is set),
// compares the identity of what it opened with id, and checks its path as
// the kernel names it (openedInside). What the walk and the workers open
// later by name is checked against id again.
func (w *walk) pin(p, name string, follow bool, id fileID) error {
	flags := unix.O_PATH | unix.O_CLOEXEC
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := openat(w.baseFd, name, flags)
	if err != nil {
		return fmt.Errorf("%w: %q changed while being listed: %v", ErrArtifactChanged, p, err)
	}
	defer unix.Close(fd)
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err != nil {
		return fault.Invalid(fmt.Errorf("recording %q: %w", p, err))
	}
	if idOf(&now) != id {
		return fmt.Errorf("%w: %q changed while being listed", ErrArtifactChanged, p)
	}
	return w.openedInside(fd, name)
}

// openedInside fails with ErrOutsideRoot unless the file open as fd, which
// was reached through the symbolic link name, lies below the base
// directory now. The path checked is the one the kernel names
// (/proc/self/fd), which no later swap of the link can change; without
// /proc the link is resolved again.
func (w *walk) openedInside(fd int, name string) error {
	real, ok := openedPath(fd)
	if !ok {
		return w.checkInside(name, name, true)
	}
	if rel, err := filepath.Rel(w.realBase, real); err != nil || !isLocal(rel) {
		return fmt.Errorf("%w: %q led to %q, which is not below the base directory %q", ErrOutsideRoot, name, real, w.h.baseDir)
	}
	return nil
}

// readDir adds the files in the directory d and returns the
// subdirectories to walk. The directory it opens must be the one that was
// listed: a directory replaced since by a symbolic link, or by another
// directory, is an ErrArtifactChanged error, so that nothing outside the
// base directory is ever listed as inside it.
func (w *walk) readDir(d subdir) ([]subdir, error) {
	name := d.name
	flags := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC
	if !d.viaLink {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := openat(w.baseFd, name, flags)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("%w: directory %q was replaced while being listed", ErrArtifactChanged, name)
		}
		return nil, fault.Invalid(fmt.Errorf("reading directory %q: %w", name, err))
	}
	defer unix.Close(fd)
	var dst unix.Stat_t
	if err := unix.Fstat(fd, &dst); err != nil {
		return nil, fault.Invalid(fmt.Errorf("reading directory %q: %w", name, err))
	}
	if idOf(&dst) != d.id {
		return nil, fmt.Errorf("%w: directory %q was replaced while being listed", ErrArtifactChanged, name)
	}
	if d.viaLink {
		// The link was checked to lead inside when it was listed; it may
		// have been pointed elsewhere since.
		if err := w.openedInside(fd, name); err != nil {
			return nil, err
		}
	}
	prefix := ""
	if name != "." {
		prefix = name + "/"
	}
	children, err := w.readNames(fd, prefix)
	if err != nil {
		return nil, fault.Invalid(fmt.Errorf("reading directory %q: %w", name, err))
	}
	ex := w.h.excludes
	var (
		files   = make([]fileEntry, 0, len(children)) // no garbage from growing it
		subdirs []subdir
		st      unix.Stat_t
	)
	for _, child := range children {
		e := child[len(prefix):]
		if ex.excluded(child) {
			continue
		}
		viaLink := false
		if err := fstatat(fd, e, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				return nil, fmt.Errorf("%w: %q was removed while being listed", ErrArtifactChanged, child)
			}
			return nil, fault.Invalid(fmt.Errorf("reading %q: %w", child, err))
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			if ex.coversBelow(child) {
				continue
			}
			subdirs = append(subdirs, subdir{child, idOf(&st), false})
			continue
		case unix.S_IFREG:
		case unix.S_IFLNK:
			viaLink = true
			if err := fstatat(fd, e, &st, 0); err != nil {
				return nil, fault.Invalid(fmt.Errorf("recording %q: broken symbolic link: %w", child, err))
			}
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFREG:
				if err := w.checkInside(child, child, true); err != nil {
					return nil, err
				}
			case unix.S_IFDIR:
				if w.h.followSymlinkDirs && !ex.coversBelow(child) {
					if err := w.checkInside(child, child, true); err != nil {
						return nil, err
					}
					subdirs = append(subdirs, subdir{child, idOf(&st), true})
				} else if w.h.dirLink != nil && !w.h.followSymlinkDirs {
					if err := w.h.dirLink(child); err != nil {
						return nil, err
					}
				}
				continue
			default:
				continue // a link to neither file nor directory: skipped
			}
		default:
			// FIFOs, sockets, devices: skipped, never opened (opening a
			// FIFO blocks).
			continue
		}
		if !utf8.ValidString(child) {
			return nil, fault.Invalidf("recording %q: the name is not valid UTF-8", child)
		}
		files = append(files, listed(child, &st, viaLink))
	}
	w.add(files)
	return subdirs, nil
}

// readNames returns the names of the entries of the open directory fd
// but "." and "..", each after prefix. It reads the entries itself, with a
// reused buffer: a name costs one allocation.
func (w *walk) readNames(fd int, prefix string) ([]string, error) {
	bufp, _ := w.dirBufs.Get().(*[]byte)
	if bufp == nil {
		b := make([]byte, 32<<10)
		bufp = &b
	}
	defer w.dirBufs.Put(bufp)
	buf := *bufp
	var names []string
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return names, nil
		}
		// struct linux_dirent64: ino u64, off s64, reclen u16, type u8,
		// name (NUL-terminated).
		for b := buf[:n]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:]))
			if reclen < 19 || reclen > len(b) {
				return nil, fmt.Errorf("malformed directory entry")
			}
			ino := binary.NativeEndian.Uint64(b)
			nb := b[19:reclen]
			b = b[reclen:]
			if i := bytes.IndexByte(nb, 0); i >= 0 {
				nb = nb[:i]
			}
			if ino == 0 || len(nb) == 0 || string(nb) == "." || string(nb) == ".." {
				continue
			}
			names = append(names, prefix+string(nb))
		}
	}
}

// open opens f for a worker, relative to the base directory.
//
// O_NONBLOCK: if the file was replaced by a FIFO since the walk, neither
// opening nor reading it blocks (and the fstat after reading sees it).
// O_NOFOLLOW: a file the walk saw as a regular file is not read through a
// symbolic link put in its place since (to a file outside the base
// directory, say).
func (w *walk) open(f *fileEntry) (fileReader, error) {
	flags := unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NONBLOCK | unix.O_NOCTTY
	if !f.viaLink {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := openat(w.baseFd, f.name, flags)
	if err != nil {
		return nil, openError(f.name, err)
	}
	if f.viaLink {
		if err := w.openedInside(fd, f.name); err != nil {
			unix.Close(fd)
			return nil, err
		}
	}
	return fdFile(fd), nil
}
