package hashing

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"
	"unicode/utf8"

	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/safefile"
)

// portableWalk is the walker of the systems other than Linux: it reads
// directories through os (os.File.Readdirnames) and reaches files by path
// from the base directory, with the calls of file_unix.go (openat and
// fstatat relative to the open directory, O_NOFOLLOW, device and inode) or
// file_windows.go (volume serial number and file index, reparse points
// not followed). It lists what the Linux walker lists, with the same
// errors, and checks the same things, except that the path of a file
// reached through a symbolic link is resolved again instead of read back
// from /proc. On Linux it is compiled too, for the tests that compare the
// two (withPortableWalk).
type portableWalk struct {
	walkState
}

// errReplaced is what openDir returns for a directory replaced since it
// was listed.
var errReplaced = errors.New("replaced")

func (h *Hasher) newPortableWalk(ctx context.Context) (*portableWalk, error) {
	w := &portableWalk{}
	if err := w.init(ctx, h); err != nil {
		return nil, err
	}
	var st fileStat
	if err := statPath(w.realBase, true, &st); err != nil {
		w.cancel()
		return nil, fault.Invalidf("base directory %q: %w", h.baseDir, err)
	}
	if !st.mode.IsDir() {
		w.cancel()
		return nil, fault.Invalidf("base directory %q is not a directory", h.baseDir)
	}
	return w, nil
}

func (w *portableWalk) close()           { w.cancel() }
func (w *portableWalk) inMemoryFS() bool { return inMemoryDir(w.realBase) }

// path is the name (relative to the base directory, '/'-separated) as a
// path of the system.
func (w *portableWalk) path(name string) string {
	return filepath.Join(w.realBase, filepath.FromSlash(name))
}

func (w *portableWalk) run(paths []string) ([]fileEntry, error) {
	return w.collect(paths, w.input)
}

// notFound reports whether err says a name, or a directory in it, does
// not exist.
func notFound(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// input adds the file, or the files below the directory, p (see
// walk.input).
func (w *portableWalk) input(p string) error {
	if p == "" {
		return fault.Invalidf("empty path to record")
	}
	name, err := w.rel(p)
	if err != nil {
		return err
	}
	if w.h.excludes.excluded(name) {
		return nil
	}
	var st fileStat
	if err := statPath(w.path(name), false, &st); err != nil {
		if notFound(err) {
			return fault.Invalidf("recording %q: no such file or directory", p)
		}
		return fault.Invalid(fmt.Errorf("recording %q: %w", p, err))
	}
	isLink := st.mode.Type() == fs.ModeSymlink
	if err := w.checkInside(p, name, isLink); err != nil {
		return err
	}
	if isLink {
		if err := statPath(w.path(name), true, &st); err != nil {
			return fault.Invalid(fmt.Errorf("recording %q: broken symbolic link: %w", p, err))
		}
	}
	if err := w.pin(p, name, isLink, st.id()); err != nil {
		return err
	}
	switch {
	case st.mode.IsRegular():
		if !utf8.ValidString(name) {
			return fault.Invalidf("recording %q: the name is not valid UTF-8", name)
		}
		w.add([]fileEntry{st.entry(name, isLink)})
		return nil
	case st.mode.IsDir():
		if w.h.excludes.prune(name) {
			return nil
		}
		w.walkDir(subdir{name, st.id(), isLink}, nil, w.readDir)
		return nil
	default:
		return fault.Invalidf("recording %q: not a regular file or directory (%v)", p, safefile.Kind(st.mode))
	}
}

// pin checks that the named path p (name) leads to the file id now, and
// lies inside the base directory (see walk.pin): it opens it without
// reading, compares identities, and resolves the path again.
func (w *portableWalk) pin(p, name string, follow bool, id fileID) error {
	var now fileStat
	if err := pinPath(w.path(name), follow, &now); err != nil {
		return fmt.Errorf("%w: %q changed while being listed: %v", ErrArtifactChanged, p, err)
	}
	if now.id() != id {
		return fmt.Errorf("%w: %q changed while being listed", ErrArtifactChanged, p)
	}
	return w.checkInside(name, name, true)
}

// readDir adds the files in the directory d and returns the
// subdirectories to walk (see walk.readDir).
func (w *portableWalk) readDir(d subdir) ([]subdir, error) {
	name := d.name
	dir, err := openDir(w.path(name), d.viaLink)
	if err != nil {
		if errors.Is(err, errReplaced) {
			return nil, fmt.Errorf("%w: directory %q was replaced while being listed", ErrArtifactChanged, name)
		}
		return nil, fault.Invalid(fmt.Errorf("reading directory %q: %w", name, err))
	}
	defer dir.close()
	var st fileStat
	if err := dir.stat(&st); err != nil {
		return nil, fault.Invalid(fmt.Errorf("reading directory %q: %w", name, err))
	}
	if st.id() != d.id {
		return nil, fmt.Errorf("%w: directory %q was replaced while being listed", ErrArtifactChanged, name)
	}
	if d.viaLink {
		// The link may have been pointed elsewhere since it was listed.
		if err := w.checkInside(name, name, true); err != nil {
			return nil, err
		}
	}
	prefix := ""
	if name != "." {
		prefix = name + "/"
	}
	entries, err := dir.names()
	if err != nil {
		return nil, fault.Invalid(fmt.Errorf("reading directory %q: %w", name, unwrapPath(err)))
	}
	ex := w.h.excludes
	var (
		files   = make([]fileEntry, 0, len(entries))
		subdirs []subdir
	)
	for _, e := range entries {
		child := prefix + e
		if ex.excluded(child) {
			continue
		}
		viaLink := false
		if err := dir.lstat(e, false, &st); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("%w: %q was removed while being listed", ErrArtifactChanged, child)
			}
			return nil, fault.Invalid(fmt.Errorf("reading %q: %w", child, err))
		}
		switch {
		case st.mode.IsDir():
			if ex.coversBelow(child) {
				continue
			}
			subdirs = append(subdirs, subdir{child, st.id(), false})
			continue
		case st.mode.IsRegular():
		case st.mode.Type() == fs.ModeSymlink:
			viaLink = true
			if err := dir.lstat(e, true, &st); err != nil {
				return nil, fault.Invalid(fmt.Errorf("recording %q: broken symbolic link: %w", child, err))
			}
			switch {
			case st.mode.IsRegular():
				if err := w.checkInside(child, child, true); err != nil {
					return nil, err
				}
			case st.mode.IsDir():
				if w.h.followSymlinkDirs && !ex.coversBelow(child) {
					if err := w.checkInside(child, child, true); err != nil {
						return nil, err
					}
					subdirs = append(subdirs, subdir{child, st.id(), true})
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
			// FIFOs, sockets, devices: skipped, never opened.
			continue
		}
		if !utf8.ValidString(child) {
			return nil, fault.Invalidf("recording %q: the name is not valid UTF-8", child)
		}
		files = append(files, st.entry(child, viaLink))
	}
	w.add(files)
	return subdirs, nil
}

// open opens f for a worker; a file reached through a symbolic link is
// checked to lie inside the base directory after it is opened.
func (w *portableWalk) open(f *fileEntry) (fileReader, error) {
	r, err := openFile(w.path(f.name), f.name, f.viaLink)
	if err != nil {
		return nil, err
	}
	if f.viaLink {
		if err := w.checkInside(f.name, f.name, true); err != nil {
			r.close()
			return nil, err
		}
	}
	return r, nil
}

// unwrapPath drops the *fs.PathError around err: the messages of the Linux
// walker name the file themselves.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
