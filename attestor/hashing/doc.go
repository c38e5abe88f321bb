// Package hashing records files: it walks the paths a step names and
// digests every regular file, in parallel, as in-toto records them (names
// relative to a base directory, excludes in gitignore syntax, --lstrip,
// line-ending normalization, directories as one dirHash artifact).
//
// The walk is hardened against a hostile process in the same job: on
// Linux it walks with getdents and fstatat below directories held open
// with O_PATH (hash_linux.go), elsewhere with os and io/fs
// (walk_portable.go), and both give byte-identical records
// (TestWalkersAgree, TestWalkersAgreeOnRecords). A file swapped, a link
// repointed or a directory replaced while it is read is an error, never a
// wrong digest; a FIFO or device is never opened. The hash cache (Cache)
// lives in the process unless the Recorder keeps it in the workspace,
// sealed with HMAC-SHA256 under a key only the signing key gives.
//
// It imports nothing of attestor's but the leaf packages fault and
// safefile.
package hashing
