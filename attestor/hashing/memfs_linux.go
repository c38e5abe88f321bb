package hashing

import "golang.org/x/sys/unix"

// inMemoryFS reports whether the directory open as fd is on tmpfs or
// ramfs, whose files' times a write through a shared memory map never
// changes.
func inMemoryFS(fd int) bool {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return true // unknown: assume the worst
	}
	return st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC
}

// inMemoryDir is inMemoryFS of the directory path.
func inMemoryDir(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return true
	}
	return st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC
}
