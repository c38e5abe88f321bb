package hashing

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"unsafe"

	"github.com/attestor/attestor/attestor/fault"

	"golang.org/x/sys/windows"
)

// The Windows calls of portableWalk. A file's identity is its volume
// serial number and file index (GetFileInformationByHandle), its change
// time the ChangeTime of FileBasicInfo. Symbolic links and junctions
// (mount points) are links: not followed where a Unix walk would not
// follow a symbolic link (FILE_FLAG_OPEN_REPARSE_POINT). Entries of a
// directory are stated by path: Windows has no fstatat, so a directory
// swapped after it was opened is caught by the identity checks of what is
// below it, not by the stat itself.

// fileBasicInfo is FILE_BASIC_INFO.
type fileBasicInfo struct {
	CreationTime, LastAccessTime, LastWriteTime, ChangeTime int64
	FileAttributes                                          uint32
	_                                                       uint32
}

// fileAttributeTagInfo is FILE_ATTRIBUTE_TAG_INFO.
type fileAttributeTagInfo struct {
	FileAttributes uint32
	ReparseTag     uint32
}

// filetimeNano converts 100 ns intervals since 1601 to ns since 1970.
func filetimeNano(t int64) int64 { return (t - 116444736000000000) * 100 }

// openHandle opens path with access, a directory too, through a final
// link only when follow is set.
func openHandle(path string, access uint32, follow bool) (windows.Handle, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return windows.InvalidHandle, err
	}
	flags := uint32(windows.FILE_FLAG_BACKUP_SEMANTICS)
	if !follow {
		flags |= windows.FILE_FLAG_OPEN_REPARSE_POINT
	}
	return windows.CreateFile(p, access,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		nil, windows.OPEN_EXISTING, flags, 0)
}

// statHandle describes the file open as h.
func statHandle(h windows.Handle, st *fileStat) error {
	var info windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &info); err != nil {
		return err
	}
	var basic fileBasicInfo
	if err := windows.GetFileInformationByHandleEx(h, windows.FileBasicInfo, (*byte)(unsafe.Pointer(&basic)), uint32(unsafe.Sizeof(basic))); err != nil {
		return err
	}
	var mode fs.FileMode
	switch {
	case info.FileAttributes&windows.FILE_ATTRIBUTE_REPARSE_POINT != 0 && isLinkTag(h):
		mode = fs.ModeSymlink
	case info.FileAttributes&windows.FILE_ATTRIBUTE_DIRECTORY != 0:
		mode = fs.ModeDir
	}
	*st = fileStat{
		mode:  mode,
		size:  int64(info.FileSizeHigh)<<32 | int64(info.FileSizeLow),
		mtime: info.LastWriteTime.Nanoseconds(),
		ctime: filetimeNano(basic.ChangeTime),
		dev:   uint64(info.VolumeSerialNumber),
		ino:   uint64(info.FileIndexHigh)<<32 | uint64(info.FileIndexLow),
	}
	return nil
}

// isLinkTag reports whether the reparse point open as h is a symbolic link
// or a junction.
func isLinkTag(h windows.Handle) bool {
	var tag fileAttributeTagInfo
	if err := windows.GetFileInformationByHandleEx(h, windows.FileAttributeTagInfo, (*byte)(unsafe.Pointer(&tag)), uint32(unsafe.Sizeof(tag))); err != nil {
		return true // unknown: not followed
	}
	return tag.ReparseTag == windows.IO_REPARSE_TAG_SYMLINK || tag.ReparseTag == windows.IO_REPARSE_TAG_MOUNT_POINT
}

// statPath describes the file path; follow follows a final link.
func statPath(path string, follow bool, st *fileStat) error {
	h, err := openHandle(path, windows.FILE_READ_ATTRIBUTES, follow)
	if err != nil {
		return err
	}
	defer windows.CloseHandle(h)
	return statHandle(h, st)
}

// pinPath opens path without reading it and describes what it opened.
func pinPath(path string, follow bool, st *fileStat) error { return statPath(path, follow, st) }

// dirHandle is a directory open for portableWalk.
type dirHandle struct {
	f    *os.File
	path string
}

// openDir opens the directory path, through a final link only when
// follow is set. A directory replaced by a link, or by something not a
// directory, is an error matching errReplaced.
func openDir(path string, follow bool) (*dirHandle, error) {
	h, err := openHandle(path, windows.GENERIC_READ, follow)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errReplaced
		}
		return nil, err
	}
	var st fileStat
	if err := statHandle(h, &st); err != nil {
		windows.CloseHandle(h)
		return nil, err
	}
	if !st.mode.IsDir() {
		windows.CloseHandle(h)
		return nil, errReplaced
	}
	return &dirHandle{os.NewFile(uintptr(h), path), path}, nil
}

func (d *dirHandle) stat(st *fileStat) error { return statHandle(windows.Handle(d.f.Fd()), st) }

func (d *dirHandle) names() ([]string, error) { return d.f.Readdirnames(-1) }

// lstat describes the entry name of the directory, by path; follow
// follows a link.
func (d *dirHandle) lstat(name string, follow bool, st *fileStat) error {
	return statPath(filepath.Join(d.path, name), follow, st)
}

func (d *dirHandle) close() { d.f.Close() }

// osFile is a file open for a worker.
type osFile struct{ f *os.File }

func (f osFile) read(b []byte) (int, error) {
	n, err := f.f.Read(b)
	if err == io.EOF {
		return n, nil
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
	}
	return n, err
}

func (f osFile) stat(st *fileStat) error { return statHandle(windows.Handle(f.f.Fd()), st) }

func (f osFile) close() { f.f.Close() }

// openFile opens the file path for a worker, through a final link only
// when follow is set (a link opened in place of a file fails the type
// check after reading).
func openFile(path, name string, follow bool) (fileReader, error) {
	h, err := openHandle(path, windows.GENERIC_READ, follow)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %q was removed", ErrArtifactChanged, name)
		}
		return nil, fault.Invalid(fmt.Errorf("reading %q: %w", name, err))
	}
	return osFile{os.NewFile(uintptr(h), path)}, nil
}

// privateFile reports whether the cache file fi may be trusted beyond its
// HMAC. Windows has no owner and mode bits in a FileInfo: the HMAC alone
// decides (see SECURITY.md).
func privateFile(fs.FileInfo) bool { return true }
