package hashing

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/attestor/attestor/attestor/fault"

	ita1 "github.com/in-toto/attestation/go/v1"
)

// Sentinel errors of the Hasher. Each wraps fault.ErrInvalidInput.
var (
	// ErrSymlinkCycle is returned by the Hasher when following directory
	// symlinks leads back into a directory already being walked. It wraps
	// fault.ErrInvalidInput.
	ErrSymlinkCycle = fault.New("symlink cycle", fault.ErrInvalidInput)

	// ErrOutsideRoot is returned when a path, or the target of a symlink,
	// lies outside the recorded root. It wraps fault.ErrInvalidInput.
	ErrOutsideRoot = fault.New("path outside the recorded root", fault.ErrInvalidInput)

	// ErrArtifactChanged is returned when a file changes while it is being
	// hashed. It wraps fault.ErrInvalidInput.
	ErrArtifactChanged = fault.New("file changed while being hashed", fault.ErrInvalidInput)
)

// DefaultExcludes are the exclude patterns applied unless
// WithoutDefaultExcludes is given: those of the in-toto reference
// implementation. The workspace directory is always excluded by the Recorder.
var DefaultExcludes = []string{"*.link*", ".git", "*.pyc", "*~"}

// hashAlgorithms are the algorithms a Hasher can compute, by the names
// in-toto uses as digest keys.
var hashAlgorithms = map[string]func() hash.Hash{
	"sha256": sha256.New,
	"sha384": sha512.New384,
	"sha512": sha512.New,
}

const (
	// defaultBufferSize is the read buffer of each worker: large enough
	// that a read costs little next to hashing it, small enough to stay in
	// the CPU cache.
	defaultBufferSize = 256 << 10
	// progressInterval is the shortest time between two progress reports.
	progressInterval = 100 * time.Millisecond
)

// Option configures a Hasher.
type Option func(*hashOptions) error

type hashOptions struct {
	baseDir              string
	excludes             []string
	noDefaultExcludes    bool
	lstrip               []string
	followSymlinkDirs    bool
	normalizeLineEndings bool
	workers              int
	algorithms           []string
	progress             func(Progress)
	bufferSize           int
	cache                *Cache
	noCache              bool
	portableWalk         bool
}

// WithBaseDir sets the directory that paths given to Hash are relative to,
// that recorded names are relative to, and that no recorded file may lie
// outside of. The default is ".", the working directory at the time of the
// Hash call.
func WithBaseDir(dir string) Option {
	return func(o *hashOptions) error {
		o.baseDir = dir
		return nil
	}
}

// WithExcludes adds gitignore-style exclude patterns, after DefaultExcludes
// (unless WithoutDefaultExcludes) and after the patterns of earlier
// WithExcludes options. Patterns are matched as the in-toto reference
// implementation matches them (pathspec's gitwildmatch) against names
// relative to the base directory: "*.o" matches at any depth, "/dist" only
// at the top, "build/" only a directory, "a/**/b" any depth in between,
// and a later "!pattern" re-includes what an earlier one excluded. The last
// matching pattern decides. A directory that is excluded is not walked, so
// nothing below it can be re-included. As in in-toto, the paths given to
// Hash are matched too, the base directory as ".": with "." given, ".*"
// excludes everything unless followed by "!.". There are none by default.
func WithExcludes(patterns ...string) Option {
	return func(o *hashOptions) error {
		o.excludes = append(o.excludes, patterns...)
		return nil
	}
}

// WithoutDefaultExcludes drops DefaultExcludes; only the patterns given with
// WithExcludes apply.
func WithoutDefaultExcludes() Option {
	return func(o *hashOptions) error {
		o.noDefaultExcludes = true
		return nil
	}
}

// WithLStrip adds prefixes that are stripped from the front of recorded
// names, as in-toto's --lstrip-paths does: the first prefix that a name
// starts with is removed (a plain string prefix, so end a directory prefix
// with "/"). No prefix may be a prefix of another, and two files whose
// names become the same, or a name that becomes empty or not a clean
// relative name, make Hash fail. There are none by default.
func WithLStrip(prefixes ...string) Option {
	return func(o *hashOptions) error {
		for _, p := range prefixes {
			if p == "" {
				return fault.Invalidf("lstrip prefix is empty")
			}
		}
		o.lstrip = append(o.lstrip, prefixes...)
		return nil
	}
}

// WithFollowSymlinkDirs makes the walk follow symbolic links to directories
// and record what lies below them under the link's name. A link that leads
// back into a directory being walked is an ErrSymlinkCycle error. By
// default such links are skipped (unless named explicitly). Symbolic links
// to files are always followed.
func WithFollowSymlinkDirs() Option {
	return func(o *hashOptions) error {
		o.followSymlinkDirs = true
		return nil
	}
}

// WithNormalizeLineEndings hashes files as in-toto's --normalize-line-endings
// does: every CRLF, and then every remaining CR, is read as LF. Use it for
// text only: "a\r\n" and "a\n" get the same digest. The default is to hash
// the bytes as they are.
func WithNormalizeLineEndings() Option {
	return func(o *hashOptions) error {
		o.normalizeLineEndings = true
		return nil
	}
}

// WithProgress sets a function that Hash calls with its progress: once
// when the walk is done, at most every 100ms while hashing, and once at the
// end, with Done set (also when hashing fails). Calls come from one
// goroutine at a time and must return quickly. The default is no reports.
func WithProgress(fn func(Progress)) Option {
	return func(o *hashOptions) error {
		o.progress = fn
		return nil
	}
}

// Progress is how far a Hash call has come.
type Progress struct {
	// Files and Bytes are what has been hashed so far, including what the
	// cache knew.
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
	// TotalFiles and TotalBytes are what the walk found to hash.
	TotalFiles int   `json:"totalFiles"`
	TotalBytes int64 `json:"totalBytes"`
	// CachedFiles and CachedBytes are the files, and their size, whose
	// digests came from the cache (see WithCache) without reading them.
	CachedFiles int   `json:"cachedFiles,omitempty"`
	CachedBytes int64 `json:"cachedBytes,omitempty"`
	// Elapsed is the time since Hash was called.
	Elapsed time.Duration `json:"elapsed"`
	// Done is set in the last report of a Hash call, whether it succeeded
	// or not.
	Done bool `json:"done,omitempty"`
}

// Hasher records artifacts: every regular file at or below the given paths,
// by digest. A Hasher is safe for concurrent use; its exclude patterns are
// compiled once, by NewHasher.
type Hasher struct {
	baseDir           string
	excludes          *excluder
	lstrip            []string
	followSymlinkDirs bool
	normalize         bool
	workers           int
	algorithms        []string
	progress          func(Progress)
	bufferSize        int
	cache             *Cache // nil: none
	portableWalk      bool   // walk with portableWalk even on Linux
	// dirLink, when set, is told of each symbolic link to a directory
	// the walk skips (not followed); an error it returns fails the walk.
	// The Recorder sets it with WithDirHash: a link inside a directory
	// recorded as one artifact would leave what it leads to out of the
	// digest.
	dirLink func(name string) error
}

// NewHasher returns a Hasher configured by opts. It fails with an
// fault.ErrInvalidInput error when an option is invalid: a malformed exclude
// pattern, an unknown algorithm, lstrip prefixes of which one is a prefix of
// another.
func NewHasher(opts ...Option) (*Hasher, error) {
	o := hashOptions{
		baseDir:    ".",
		workers:    runtime.GOMAXPROCS(0),
		algorithms: []string{"sha256"},
		bufferSize: defaultBufferSize,
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.baseDir == "" {
		o.baseDir = "."
	}
	patterns := o.excludes
	if !o.noDefaultExcludes {
		patterns = append(slices.Clone(DefaultExcludes), o.excludes...)
	}
	ex, err := compileExcludes(patterns)
	if err != nil {
		return nil, err
	}
	for i, a := range o.lstrip {
		for _, b := range o.lstrip[i+1:] {
			if strings.HasPrefix(a, b) || strings.HasPrefix(b, a) {
				return nil, fault.Invalidf("lstrip prefixes %q and %q overlap: one is a prefix of the other", a, b)
			}
		}
	}
	if o.noCache {
		o.cache = nil
	}
	return &Hasher{
		cache:             o.cache,
		baseDir:           o.baseDir,
		excludes:          ex,
		lstrip:            slices.Clone(o.lstrip),
		followSymlinkDirs: o.followSymlinkDirs,
		normalize:         o.normalizeLineEndings,
		workers:           o.workers,
		algorithms:        slices.Clone(o.algorithms),
		progress:          o.progress,
		bufferSize:        o.bufferSize,
		portableWalk:      o.portableWalk,
	}, nil
}

// Hash records the files at or below paths (relative to the base directory,
// or absolute inside it) and returns them sorted by name. Names are relative
// to the base directory, '/'-separated, with lstrip prefixes removed; each
// file is recorded once however often it is reached. Symbolic links to files
// are recorded under the link's name with the digest of the target.
// Directories are walked without following symbolic links to directories
// (see WithFollowSymlinkDirs); named paths are always followed. FIFOs,
// sockets and devices met in a walk are skipped.
//
// It fails with a fault.ErrInvalidInput error, naming the path, when a path does
// not exist, cannot be read, is not a regular file or directory, is not
// valid UTF-8 or is a broken symbolic link; with ErrOutsideRoot when a path
// or a link's target lies outside the base directory; with ErrSymlinkCycle
// on a cycle of directory links; with ErrArtifactChanged when a file changes
// while it is hashed; and with ctx's error when ctx ends first.
func (h *Hasher) Hash(ctx context.Context, paths []string) ([]*ita1.ResourceDescriptor, error) {
	defer h.Flush()
	hs, err := h.HashFiles(ctx, paths)
	if err != nil {
		return nil, err
	}
	return Descriptors(hs), nil
}

// Flush waits until the cache file, if any, holds what the passes so far
// learned (HashFiles leaves it to be written in the background).
func (h *Hasher) Flush() {
	if h.cache != nil {
		h.cache.flush()
	}
}

// HashFiles is Hash, with the result in the compact form the Recorder
// keeps (sorted by name), and the cache file written in the background
// (see Flush).
func (h *Hasher) HashFiles(ctx context.Context, paths []string) ([]FileSum, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	start := time.Now()
	var pass *cachePass
	if h.cache != nil {
		// Before the walk: a file that changes after this is never
		// trusted.
		pass = h.cache.begin()
	}
	w, err := h.newWalk(ctx)
	if err != nil {
		return nil, err
	}
	defer w.close()
	if pass != nil && pass.c.path != "" && !pass.c.memFSOK && w.inMemoryFS() {
		// On tmpfs a write through a shared memory map never changes a
		// file's times: a cache kept between processes cannot tell.
		pass = nil
	}
	files, err := w.run(paths)
	if err != nil {
		return nil, err
	}
	if err := h.strip(files); err != nil {
		return nil, err
	}
	if len(h.lstrip) > 0 {
		files = sortFiles(files, func(f *fileEntry) string { return f.out })
	}
	hs, err := h.hashAll(ctx, w, files, pass, start)
	if err != nil {
		return nil, err
	}
	if pass != nil {
		pass.end()
	}
	return hs, nil
}

// fileEntry is a file found by the walk.
type fileEntry struct {
	name         string // relative to the base directory, '/'-separated
	out          string // the recorded name: name with an lstrip prefix removed
	size         int64
	mtime, ctime int64 // ns since the epoch
	dev, ino     uint64
	// viaLink says name is a symbolic link (to the file of this stat):
	// only then is a final symbolic link followed when the file is read.
	viaLink bool
}

// fileStat is what the walkers and the workers learn of a file, whatever
// the system: its type, size, times and identity (device and inode on
// Unix; volume serial number and file index on Windows).
type fileStat struct {
	mode         fs.FileMode // only the type bits are used
	size         int64
	mtime, ctime int64 // ns since the epoch
	dev, ino     uint64
}

func (st *fileStat) id() fileID { return fileID{st.dev, st.ino} }

// entry returns the entry of the file name whose stat is st, reached
// through a symbolic link when viaLink is set.
func (st *fileStat) entry(name string, viaLink bool) fileEntry {
	return fileEntry{name: name, out: name, size: st.size, mtime: st.mtime, ctime: st.ctime, dev: st.dev, ino: st.ino, viaLink: viaLink}
}

// sortFiles sorts files by key, in place, and returns them. It sorts
// indexes, then moves each entry into place once (following the cycles of
// the permutation): a sort that swaps the entries themselves moves 80
// bytes a swap, and costs twice as much on 20,000 files.
func sortFiles(files []fileEntry, key func(*fileEntry) string) []fileEntry {
	idx := make([]int32, len(files))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int { return strings.Compare(key(&files[a]), key(&files[b])) })
	// Position i takes the entry at idx[i].
	for i := range idx {
		if idx[i] < 0 || int(idx[i]) == i {
			continue
		}
		tmp := files[i]
		j := i
		for {
			k := int(idx[j])
			idx[j] = -1
			if k == i {
				files[j] = tmp
				break
			}
			files[j] = files[k]
			j = k
		}
	}
	return files
}

// fileID identifies a directory, for cycle detection.
type fileID struct{ dev, ino uint64 }

// ancestor is a directory on the path from a walked root to the directory
// being read.
type ancestor struct {
	id   fileID
	name string
	up   *ancestor
}

// walker lists the files to hash and opens them for the workers. Two
// implement it: on Linux, walk (hash_linux.go) reads directories with
// getdents and stats their entries with fstatat relative to the open
// directory; elsewhere, and on Linux for the tests that compare the two,
// portableWalk (walk_portable.go) reads them through os, with the
// per-system calls of file_unix.go and file_windows.go. Both list the same
// files with the same errors: the records they lead to are byte-identical.
type walker interface {
	// run walks paths and returns the files found, sorted by name, each
	// once.
	run(paths []string) ([]fileEntry, error)
	// open opens f, as listed, for a worker to read.
	open(f *fileEntry) (fileReader, error)
	// state is what both walkers share.
	state() *walkState
	// inMemoryFS reports whether the base directory is on a memory file
	// system, whose files' times a write through a shared memory map
	// never changes.
	inMemoryFS() bool
	// close releases the walk; call it once hashing is done.
	close()
}

// fileReader is a file open for a worker.
type fileReader interface {
	// read reads into b; 0 and no error is the end of the file (or, for
	// a file that is no longer a regular one, nothing to read now).
	read(b []byte) (int, error)
	// stat describes the open file.
	stat(st *fileStat) error
	close()
}

// newWalk starts a walk of the base directory: with the Linux walker
// unless withPortableWalk was given or the system is not Linux.
// UseDirHasher makes the walk refuse a symbolic link to a directory inside
// a directory d records as one artifact (see DirHasher.CheckLink's
// reasons): the Recorder sets it when it records --dirhash directories.
func (h *Hasher) UseDirHasher(d *DirHasher) {
	if d != nil {
		h.dirLink = d.checkLink
	}
}

// BaseDir returns the base directory opts set (WithBaseDir): "" for the
// working directory.
func BaseDir(opts ...Option) (string, error) {
	var o hashOptions
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return "", err
		}
	}
	return o.baseDir, nil
}

func (h *Hasher) newWalk(ctx context.Context) (walker, error) {
	if h.portableWalk {
		return h.newPortableWalk(ctx)
	}
	return h.newSystemWalk(ctx)
}

// walkState is what both walkers share: the base directory, the workers
// that read directories, and what they found.
type walkState struct {
	h                 *Hasher
	ctx               context.Context
	cancel            context.CancelFunc
	absBase, realBase string
	sem               chan struct{}
	wg                sync.WaitGroup

	mu    sync.Mutex
	found [][]fileEntry // the files of each directory read, and the named files
	errs  []namedError
}

// init resolves the base directory (realBase has no symbolic link left).
func (w *walkState) init(ctx context.Context, h *Hasher) error {
	abs, err := filepath.Abs(h.baseDir)
	if err != nil {
		return fault.Invalidf("base directory %q: %w", h.baseDir, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return fault.Invalidf("base directory %q: %w", h.baseDir, err)
	}
	w.h, w.absBase, w.realBase = h, abs, real
	w.sem = make(chan struct{}, h.workers-1)
	w.ctx, w.cancel = context.WithCancel(ctx)
	return nil
}

func (w *walkState) state() *walkState { return w }

// namedError is a walk error and the name it is about.
type namedError struct {
	name string
	err  error
}

// collect adds each of paths with input and returns the files found,
// sorted by name, each once.
func (w *walkState) collect(paths []string, input func(string) error) ([]fileEntry, error) {
	for _, p := range paths {
		if err := input(p); err != nil {
			w.cancel()
			w.wg.Wait()
			return nil, err
		}
	}
	w.wg.Wait()
	if len(w.errs) > 0 {
		// Of the errors met, report the first by name.
		return nil, slices.MinFunc(w.errs, func(a, b namedError) int { return strings.Compare(a.name, b.name) }).err
	}
	if err := w.ctx.Err(); err != nil {
		return nil, err
	}
	files := sortFiles(slices.Concat(w.found...), func(f *fileEntry) string { return f.name })
	// The same file reached twice (say, from "a" and "a/b") is recorded
	// once.
	files = slices.CompactFunc(files, func(a, b fileEntry) bool { return a.name == b.name })
	return files, nil
}

// add adds the files found in a directory, or a named file.
func (w *walkState) add(files []fileEntry) {
	if len(files) > 0 {
		w.mu.Lock()
		w.found = append(w.found, files)
		w.mu.Unlock()
	}
}

// fail records an error about name and stops the walk.
func (w *walkState) fail(name string, err error) {
	w.mu.Lock()
	w.errs = append(w.errs, namedError{name, err})
	w.mu.Unlock()
	w.cancel()
}

// rel returns the clean '/'-separated name of p relative to the base
// directory, or an ErrOutsideRoot error.
func (w *walkState) rel(p string) (string, error) {
	c := filepath.Clean(p)
	rel := c
	if filepath.IsAbs(c) {
		r, err := filepath.Rel(w.absBase, c)
		if err != nil || !isLocal(r) {
			r, err = filepath.Rel(w.realBase, c)
		}
		if err != nil {
			r = ""
		}
		rel = r
	}
	if !isLocal(rel) {
		return "", fmt.Errorf("%w: %q is not below the base directory %q", ErrOutsideRoot, p, w.h.baseDir)
	}
	return filepath.ToSlash(rel), nil
}

func isLocal(rel string) bool { return rel == "." || filepath.IsLocal(rel) }

// checkInside fails with ErrOutsideRoot when name, once every symbolic link
// in it is resolved, lies outside the base directory; and with an
// fault.ErrInvalidInput error when a link in it is broken. p is the name to show.
func (w *walkState) checkInside(p, name string, isLink bool) error {
	real, err := filepath.EvalSymlinks(filepath.Join(w.absBase, filepath.FromSlash(name)))
	if err != nil {
		if isLink {
			return fault.Invalid(fmt.Errorf("recording %q: broken symbolic link: %w", p, err))
		}
		return fault.Invalid(fmt.Errorf("recording %q: %w", p, err))
	}
	rel, err := filepath.Rel(w.realBase, real)
	if err != nil || !isLocal(rel) {
		return fmt.Errorf("%w: %q resolves to %q, which is not below the base directory %q", ErrOutsideRoot, p, real, w.h.baseDir)
	}
	return nil
}

// walkDir adds the files below the directory d, reached through the
// directories up, each read by readDir. It reads subdirectories on new
// goroutines while there are free workers, else itself, after readDir
// closed its directory (so each goroutine holds one directory open at
// most).
func (w *walkState) walkDir(d subdir, up *ancestor, readDir func(subdir) ([]subdir, error)) {
	for a := up; a != nil; a = a.up {
		if a.id == d.id {
			w.fail(d.name, fmt.Errorf("%w: %q leads back to %q", ErrSymlinkCycle, d.name, a.name))
			return
		}
	}
	if w.ctx.Err() != nil {
		return
	}
	here := &ancestor{id: d.id, name: d.name, up: up}
	subdirs, err := readDir(d)
	if err != nil {
		w.fail(d.name, err)
		return
	}
	for _, sub := range subdirs {
		select {
		case w.sem <- struct{}{}:
			w.wg.Go(func() {
				defer func() { <-w.sem }()
				w.walkDir(sub, here, readDir)
			})
		default:
			w.walkDir(sub, here, readDir)
		}
	}
}

// subdir is a directory to walk: its name, its identity when it was
// listed, and whether the name is a symbolic link to it.
type subdir struct {
	name    string
	id      fileID
	viaLink bool
}

// strip sets the recorded names of files: their names with the lstrip
// prefix removed.
func (h *Hasher) strip(files []fileEntry) error {
	if len(h.lstrip) == 0 {
		return nil
	}
	owner := make(map[string]string, len(files))
	for i := range files {
		f := &files[i]
		for _, p := range h.lstrip {
			if out, ok := strings.CutPrefix(f.name, p); ok {
				if out == "" || out == "." || path.IsAbs(out) || path.Clean(out) != out || strings.HasPrefix(out, "../") || out == ".." {
					return fault.Invalidf("lstrip prefix %q turns %q into %q, which is not a clean relative name (end a directory prefix with \"/\")", p, f.name, out)
				}
				f.out = out
				break
			}
		}
		if prev, ok := owner[f.out]; ok {
			return fault.Invalidf("lstrip prefixes make %q and %q both %q", prev, f.name, f.out)
		}
		owner[f.out] = f.name
	}
	return nil
}

// hashAll hashes files (sorted by recorded name; names relative to the
// walk's open base directory) with a pool of workers, largest file first,
// and returns their descriptors in the same order. Files that pass's cache
// knows unchanged are not read.
func (h *Hasher) hashAll(ctx context.Context, w walker, files []fileEntry, pass *cachePass, start time.Time) ([]FileSum, error) {
	results := make([]FileSum, len(files))
	var (
		total       int64
		cachedFiles int
		cachedBytes int64
		cacheKey    func(*fileEntry) string
		known       []bool
	)
	if pass != nil {
		prefix := w.state().realBase + string(filepath.Separator)
		cacheKey = func(f *fileEntry) string { return prefix + f.name }
		known = make([]bool, len(files))
		if err := pass.lookup(files, prefix, h.algorithms, h.normalize, known, results); err != nil {
			return nil, err
		}
	}
	order := make([]int, 0, len(files))
	for i := range files {
		total += files[i].size
		results[i].Name = files[i].out
		if known != nil && known[i] {
			cachedFiles++
			cachedBytes += files[i].size
			continue
		}
		order = append(order, i)
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(files[b].size, files[a].size) })
	if pass != nil {
		pass.expect(len(order))
	}

	var (
		next      atomic.Int64
		filesDone atomic.Int64
		bytesDone atomic.Int64
		mu        sync.Mutex
		failed    []int // indexes of files that failed
		errs      = map[int]error{}
	)
	filesDone.Store(int64(cachedFiles))
	bytesDone.Store(cachedBytes)
	report := func(done bool) {
		h.progress(Progress{
			Files: int(filesDone.Load()), Bytes: bytesDone.Load(), TotalFiles: len(files), TotalBytes: total,
			CachedFiles: cachedFiles, CachedBytes: cachedBytes, Elapsed: time.Since(start), Done: done,
		})
	}
	stopProgress := func() {}
	if h.progress != nil {
		report(false)
		done := make(chan struct{})
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			t := time.NewTicker(progressInterval)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					report(false)
				}
			}
		}()
		stopProgress = func() { close(done); <-stopped }
	}

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range min(h.workers, len(order)) {
		wg.Go(func() {
			wk := h.newWorker(w)
			for {
				i := int(next.Add(1) - 1)
				if i >= len(order) || wctx.Err() != nil {
					return
				}
				f := &files[order[i]]
				digest, err := wk.hash(wctx, f, &bytesDone)
				if err != nil {
					if wctx.Err() == nil || !errors.Is(err, wctx.Err()) {
						mu.Lock()
						failed = append(failed, order[i])
						errs[order[i]] = err
						mu.Unlock()
					}
					cancel()
					return
				}
				results[order[i]].Sums = digest
				if pass != nil {
					wk.remember(pass, cacheKey(f), f, &digest)
				}
				filesDone.Add(1)
			}
		})
	}
	wg.Wait()
	stopProgress()
	err := ctx.Err()
	if len(failed) > 0 {
		// Of the failures seen, report the first by name.
		err = errs[slices.Min(failed)]
	}
	if h.progress != nil {
		report(true)
	}
	if err != nil {
		return nil, err
	}
	return results, nil
}

// worker hashes one file at a time with one buffer and one set of hashes.
type worker struct {
	w          walker
	algorithms []int // indexes in cacheAlgorithms
	hashes     []hash.Hash
	buf        []byte
	sum        []byte
	normalize  bool
	st         fileStat // of the file last hashed, after the last read
}

func (h *Hasher) newWorker(w walker) *worker {
	wk := &worker{
		w:         w,
		buf:       make([]byte, h.bufferSize),
		sum:       make([]byte, 0, sha512.Size),
		normalize: h.normalize,
	}
	for _, a := range h.algorithms {
		wk.algorithms = append(wk.algorithms, cacheAlgorithm(a))
		wk.hashes = append(wk.hashes, hashAlgorithms[a]())
	}
	return wk
}

// hash returns the digests of f. It fails with ErrArtifactChanged unless
// the file read is, from before the first read to after the last, the
// regular file of the identity, size and modification time the walk
// listed.
func (wk *worker) hash(ctx context.Context, f *fileEntry, bytesDone *atomic.Int64) (Sums, error) {
	r, err := wk.w.open(f)
	if err != nil {
		return Sums{}, err
	}
	defer r.close()
	for _, h := range wk.hashes {
		h.Reset()
	}
	done := ctx.Done()
	var n int64
	cr := false
	for n <= f.size {
		select {
		case <-done:
			return Sums{}, ctx.Err()
		default:
		}
		m, err := r.read(wk.buf)
		if err != nil {
			return Sums{}, fault.Invalid(fmt.Errorf("reading %q: %w", f.name, err))
		}
		if m == 0 {
			break
		}
		n += int64(m)
		chunk := wk.buf[:m]
		if wk.normalize {
			chunk, cr = normalizeEOL(chunk, cr)
		}
		for _, h := range wk.hashes {
			h.Write(chunk)
		}
		bytesDone.Add(int64(m))
		// A short read that reaches the listed size is the end: the
		// stat below catches a file that grew.
		if m < len(wk.buf) && n == f.size {
			break
		}
	}
	st := &wk.st
	if err := r.stat(st); err != nil {
		return Sums{}, fault.Invalid(fmt.Errorf("reading %q: %w", f.name, err))
	}
	switch {
	case !st.mode.IsRegular():
		return Sums{}, fmt.Errorf("%w: %q is no longer a regular file", ErrArtifactChanged, f.name)
	case st.dev != f.dev || st.ino != f.ino:
		// Another file than the one listed: replaced, renamed over, or
		// reached through a directory swapped since.
		return Sums{}, fmt.Errorf("%w: %q is not the file that was listed (device and inode differ)", ErrArtifactChanged, f.name)
	case n != f.size || st.size != f.size:
		return Sums{}, fmt.Errorf("%w: %q was %d bytes when listed, %d bytes read, now %d bytes", ErrArtifactChanged, f.name, f.size, n, st.size)
	case st.mtime != f.mtime:
		return Sums{}, fmt.Errorf("%w: %q was modified at %v, after it was listed", ErrArtifactChanged, f.name, time.Unix(0, st.mtime).UTC().Truncate(time.Second))
	}
	var digest Sums
	for i, h := range wk.hashes {
		wk.sum = h.Sum(wk.sum[:0])
		digest[wk.algorithms[i]] = hex.EncodeToString(wk.sum)
	}
	return digest, nil
}

// remember adds the file just hashed to the cache pass.
func (wk *worker) remember(pass *cachePass, key string, f *fileEntry, digest *Sums) {
	pass.add(key, f, &wk.st, wk.normalize, digest)
}

// normalizeEOL rewrites b in place as in-toto's line-ending normalization
// reads it: CRLF and then lone CR become LF. cr says whether the previous
// chunk ended in CR (so a leading LF belongs to it); the result says whether
// this one does.
func normalizeEOL(b []byte, cr bool) ([]byte, bool) {
	if cr && len(b) > 0 && b[0] == '\n' {
		b = b[1:]
	}
	i := bytes.IndexByte(b, '\r')
	if i < 0 {
		return b, false
	}
	j := i // b[:j] is done
	for {
		// b[i] is a CR.
		b[j] = '\n'
		j++
		i++
		if i == len(b) {
			return b[:j], true
		}
		if b[i] == '\n' {
			i++
		}
		k := bytes.IndexByte(b[i:], '\r')
		if k < 0 {
			j += copy(b[j:], b[i:])
			return b[:j], false
		}
		j += copy(b[j:], b[i:i+k])
		i += k
	}
}
