package attestor

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
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	ita1 "github.com/in-toto/attestation/go/v1"
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

// HashOption configures a Hasher.
type HashOption func(*hashOptions) error

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
}

// WithBaseDir sets the directory that paths given to Hash are relative to,
// that recorded names are relative to, and that no recorded file may lie
// outside of. The default is ".", the working directory at the time of the
// Hash call.
func WithBaseDir(dir string) HashOption {
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
// nothing below it can be re-included. There are none by default.
func WithExcludes(patterns ...string) HashOption {
	return func(o *hashOptions) error {
		o.excludes = append(o.excludes, patterns...)
		return nil
	}
}

// WithoutDefaultExcludes drops DefaultExcludes; only the patterns given with
// WithExcludes apply.
func WithoutDefaultExcludes() HashOption {
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
func WithLStrip(prefixes ...string) HashOption {
	return func(o *hashOptions) error {
		for _, p := range prefixes {
			if p == "" {
				return invalidf("lstrip prefix is empty")
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
func WithFollowSymlinkDirs() HashOption {
	return func(o *hashOptions) error {
		o.followSymlinkDirs = true
		return nil
	}
}

// WithNormalizeLineEndings hashes files as in-toto's --normalize-line-endings
// does: every CRLF, and then every remaining CR, is read as LF. Use it for
// text only: "a\r\n" and "a\n" get the same digest. The default is to hash
// the bytes as they are.
func WithNormalizeLineEndings() HashOption {
	return func(o *hashOptions) error {
		o.normalizeLineEndings = true
		return nil
	}
}

// WithWorkers sets how many files are hashed at once. n must be at least
// 1. The default is runtime.GOMAXPROCS(0).
func WithWorkers(n int) HashOption {
	return func(o *hashOptions) error {
		if n < 1 {
			return invalidf("hash workers must be at least 1, not %d", n)
		}
		o.workers = n
		return nil
	}
}

// WithAlgorithms sets the digests computed for each file, by in-toto name:
// "sha256", "sha384", "sha512". It replaces the list of an earlier
// WithAlgorithms. The default is "sha256" alone.
func WithAlgorithms(algs ...string) HashOption {
	return func(o *hashOptions) error {
		if len(algs) == 0 {
			return invalidf("no hash algorithm given")
		}
		o.algorithms = o.algorithms[:0]
		for _, a := range algs {
			if hashAlgorithms[a] == nil {
				return invalidf("unknown hash algorithm %q (known: sha256, sha384, sha512)", a)
			}
			if !slices.Contains(o.algorithms, a) {
				o.algorithms = append(o.algorithms, a)
			}
		}
		return nil
	}
}

// WithProgress sets a function that Hash calls with its progress: once
// when the walk is done, at most every 100ms while hashing, and once at the
// end (unless hashing fails). Calls come from one goroutine at a time and
// must return quickly. The default is no reports.
func WithProgress(fn func(Progress)) HashOption {
	return func(o *hashOptions) error {
		o.progress = fn
		return nil
	}
}

// withBufferSize sets the read buffer of each worker. For tests.
func withBufferSize(n int) HashOption {
	return func(o *hashOptions) error {
		if n < 1 {
			return invalidf("buffer size must be at least 1, not %d", n)
		}
		o.bufferSize = n
		return nil
	}
}

// Progress is how far a Hash call has come.
type Progress struct {
	// Files and Bytes are what has been hashed so far.
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
	// TotalFiles and TotalBytes are what the walk found to hash.
	TotalFiles int   `json:"totalFiles"`
	TotalBytes int64 `json:"totalBytes"`
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
}

// NewHasher returns a Hasher configured by opts. It fails with an
// ErrInvalidInput error when an option is invalid: a malformed exclude
// pattern, an unknown algorithm, lstrip prefixes of which one is a prefix of
// another.
func NewHasher(opts ...HashOption) (*Hasher, error) {
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
				return nil, invalidf("lstrip prefixes %q and %q overlap: one is a prefix of the other", a, b)
			}
		}
	}
	return &Hasher{
		baseDir:           o.baseDir,
		excludes:          ex,
		lstrip:            slices.Clone(o.lstrip),
		followSymlinkDirs: o.followSymlinkDirs,
		normalize:         o.normalizeLineEndings,
		workers:           o.workers,
		algorithms:        slices.Clone(o.algorithms),
		progress:          o.progress,
		bufferSize:        o.bufferSize,
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
// It fails with an ErrInvalidInput error, naming the path, when a path does
// not exist, cannot be read, is not a regular file or directory, is not
// valid UTF-8 or is a broken symbolic link; with ErrOutsideRoot when a path
// or a link's target lies outside the base directory; with ErrSymlinkCycle
// on a cycle of directory links; with ErrArtifactChanged when a file changes
// while it is hashed; and with ctx's error when ctx ends first.
func (h *Hasher) Hash(ctx context.Context, paths []string) ([]*ita1.ResourceDescriptor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w, err := h.newWalk()
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		if err := w.input(ctx, p); err != nil {
			return nil, err
		}
	}
	files := w.files
	if err := h.strip(files); err != nil {
		return nil, err
	}
	slices.SortFunc(files, func(a, b fileEntry) int { return strings.Compare(a.out, b.out) })
	return h.hashAll(ctx, files)
}

// fileEntry is a file found by the walk.
type fileEntry struct {
	name  string // relative to the base directory, '/'-separated
	out   string // the recorded name: name with an lstrip prefix removed
	path  string // what to open
	size  int64
	mtime time.Time
}

// walk lists the files to hash; it only reads directories and stats.
type walk struct {
	h                 *Hasher
	absBase, realBase string
	files             []fileEntry
	seen              map[string]struct{} // names of files and directories met
	stack             []os.FileInfo       // directories being walked
	stackNames        []string
}

func (h *Hasher) newWalk() (*walk, error) {
	abs, err := filepath.Abs(h.baseDir)
	if err != nil {
		return nil, invalidf("base directory %q: %w", h.baseDir, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, invalidf("base directory %q: %w", h.baseDir, err)
	}
	if fi, err := os.Stat(real); err != nil {
		return nil, invalidf("base directory %q: %w", h.baseDir, err)
	} else if !fi.IsDir() {
		return nil, invalidf("base directory %q is not a directory", h.baseDir)
	}
	return &walk{h: h, absBase: abs, realBase: real, seen: map[string]struct{}{}}, nil
}

// input adds the file, or the files below the directory, p.
func (w *walk) input(ctx context.Context, p string) error {
	if p == "" {
		return invalidf("empty path to record")
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
	osPath := filepath.Join(w.absBase, filepath.FromSlash(name))
	fi, err := os.Lstat(osPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return invalidf("recording %q: no such file or directory", p)
		}
		return Invalid(fmt.Errorf("recording %q: %w", p, err))
	}
	if err := w.checkInside(p, osPath, fi); err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		if fi, err = os.Stat(osPath); err != nil {
			return Invalid(fmt.Errorf("recording %q: broken symbolic link: %w", p, err))
		}
	}
	switch {
	case fi.Mode().IsRegular():
		return w.addFile(name, osPath, fi)
	case fi.IsDir():
		if w.h.excludes.prune(name) {
			return nil
		}
		return w.walkDir(ctx, name, osPath, fi)
	default:
		return invalidf("recording %q: not a regular file or directory (%v)", p, fi.Mode().Type())
	}
}

// rel returns the clean '/'-separated name of p relative to the base
// directory, or an ErrOutsideRoot error.
func (w *walk) rel(p string) (string, error) {
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

// checkInside fails with ErrOutsideRoot when osPath, once every symbolic
// link in it is resolved, lies outside the base directory; and with an
// ErrInvalidInput error when a link in it is broken.
func (w *walk) checkInside(name, osPath string, fi os.FileInfo) error {
	real, err := filepath.EvalSymlinks(osPath)
	if err != nil {
		if fi.Mode()&fs.ModeSymlink != 0 {
			return Invalid(fmt.Errorf("recording %q: broken symbolic link: %w", name, err))
		}
		return Invalid(fmt.Errorf("recording %q: %w", name, err))
	}
	rel, err := filepath.Rel(w.realBase, real)
	if err != nil || !isLocal(rel) {
		return fmt.Errorf("%w: %q resolves to %q, which is not below the base directory %q", ErrOutsideRoot, name, real, w.h.baseDir)
	}
	return nil
}

// walkDir adds the files below the directory name; fi is its stat (the
// target's, for a symbolic link).
func (w *walk) walkDir(ctx context.Context, name, osPath string, fi os.FileInfo) error {
	if _, ok := w.seen[name]; ok {
		return nil
	}
	w.seen[name] = struct{}{}
	for i, d := range w.stack {
		if os.SameFile(d, fi) {
			return fmt.Errorf("%w: %q leads back to %q", ErrSymlinkCycle, name, w.stackNames[i])
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	w.stack = append(w.stack, fi)
	w.stackNames = append(w.stackNames, name)
	defer func() {
		w.stack = w.stack[:len(w.stack)-1]
		w.stackNames = w.stackNames[:len(w.stackNames)-1]
	}()

	d, err := os.Open(osPath)
	if err != nil {
		return Invalid(fmt.Errorf("reading directory %q: %w", name, err))
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return Invalid(fmt.Errorf("reading directory %q: %w", name, err))
	}
	ex := w.h.excludes
	for _, e := range entries {
		child := e.Name()
		if name != "." {
			child = name + "/" + child
		}
		childPath := osPath + string(filepath.Separator) + e.Name()
		switch t := e.Type(); {
		case t.IsDir():
			if ex.prune(child) {
				continue
			}
			info, err := e.Info()
			if err != nil {
				return Invalid(fmt.Errorf("reading %q: %w", child, err))
			}
			if err := w.walkDir(ctx, child, childPath, info); err != nil {
				return err
			}
		case t.IsRegular():
			if ex.excluded(child) {
				continue
			}
			info, err := e.Info()
			if err != nil {
				return Invalid(fmt.Errorf("reading %q: %w", child, err))
			}
			if err := w.addFile(child, childPath, info); err != nil {
				return err
			}
		case t&fs.ModeSymlink != 0:
			if ex.excluded(child) {
				continue
			}
			info, err := os.Stat(childPath)
			if err != nil {
				return Invalid(fmt.Errorf("recording %q: broken symbolic link: %w", child, err))
			}
			switch {
			case info.Mode().IsRegular():
				if err := w.checkInside(child, childPath, info); err != nil {
					return err
				}
				if err := w.addFile(child, childPath, info); err != nil {
					return err
				}
			case info.IsDir() && w.h.followSymlinkDirs:
				if ex.prune(child) {
					continue
				}
				if err := w.checkInside(child, childPath, info); err != nil {
					return err
				}
				if err := w.walkDir(ctx, child, childPath, info); err != nil {
					return err
				}
			}
			// A link to a directory that is not followed, or to
			// something that is neither file nor directory: skipped.
		default:
			// FIFOs, sockets, devices: skipped, never opened (opening
			// a FIFO blocks).
		}
	}
	return nil
}

func (w *walk) addFile(name, osPath string, fi os.FileInfo) error {
	if _, ok := w.seen[name]; ok {
		return nil
	}
	w.seen[name] = struct{}{}
	if !utf8.ValidString(name) {
		return invalidf("recording %q: the name is not valid UTF-8", name)
	}
	w.files = append(w.files, fileEntry{name: name, out: name, path: osPath, size: fi.Size(), mtime: fi.ModTime()})
	return nil
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
					return invalidf("lstrip prefix %q turns %q into %q, which is not a clean relative name (end a directory prefix with \"/\")", p, f.name, out)
				}
				f.out = out
				break
			}
		}
		if prev, ok := owner[f.out]; ok {
			return invalidf("lstrip prefixes make %q and %q both %q", prev, f.name, f.out)
		}
		owner[f.out] = f.name
	}
	return nil
}

// hashAll hashes files (sorted by recorded name) with a pool of workers,
// largest file first, and returns their descriptors in the same order.
func (h *Hasher) hashAll(ctx context.Context, files []fileEntry) ([]*ita1.ResourceDescriptor, error) {
	results := make([]*ita1.ResourceDescriptor, len(files))
	var total int64
	order := make([]int, len(files))
	for i := range order {
		order[i] = i
		total += files[i].size
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(files[b].size, files[a].size) })

	var (
		next      atomic.Int64
		filesDone atomic.Int64
		bytesDone atomic.Int64
		mu        sync.Mutex
		failed    []int // indexes of files that failed
		errs      = map[int]error{}
	)
	report := func() {
		h.progress(Progress{Files: int(filesDone.Load()), Bytes: bytesDone.Load(), TotalFiles: len(files), TotalBytes: total})
	}
	stopProgress := func() {}
	if h.progress != nil {
		report()
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
					report()
				}
			}
		}()
		stopProgress = func() { close(done); <-stopped }
	}

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range min(h.workers, len(files)) {
		wg.Go(func() {
			wk := h.newWorker()
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
				results[order[i]] = &ita1.ResourceDescriptor{Name: f.out, Digest: digest}
				filesDone.Add(1)
			}
		})
	}
	wg.Wait()
	stopProgress()
	if len(failed) > 0 {
		// Of the failures seen, report the first by name.
		return nil, errs[slices.Min(failed)]
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if h.progress != nil {
		report()
	}
	return results, nil
}

// worker hashes one file at a time with one buffer and one set of hashes.
type worker struct {
	algorithms []string
	hashes     []hash.Hash
	buf        []byte
	sum        []byte
	normalize  bool
}

func (h *Hasher) newWorker() *worker {
	wk := &worker{
		algorithms: h.algorithms,
		buf:        make([]byte, h.bufferSize),
		sum:        make([]byte, 0, sha512.Size),
		normalize:  h.normalize,
	}
	for _, a := range h.algorithms {
		wk.hashes = append(wk.hashes, hashAlgorithms[a]())
	}
	return wk
}

// hash returns the digests of f, checking that it is the file the walk
// saw and that it did not change while being read.
func (wk *worker) hash(ctx context.Context, f *fileEntry, bytesDone *atomic.Int64) (map[string]string, error) {
	// O_NONBLOCK: if the file was replaced by a FIFO since the walk,
	// opening it must not block.
	fd, err := os.OpenFile(f.path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %q was removed", ErrArtifactChanged, f.name)
		}
		return nil, Invalid(fmt.Errorf("reading %q: %w", f.name, err))
	}
	defer fd.Close()
	before, err := fd.Stat()
	if err != nil {
		return nil, Invalid(fmt.Errorf("reading %q: %w", f.name, err))
	}
	if !before.Mode().IsRegular() || before.Size() != f.size || !before.ModTime().Equal(f.mtime) {
		return nil, fmt.Errorf("%w: %q changed since it was listed", ErrArtifactChanged, f.name)
	}
	for _, h := range wk.hashes {
		h.Reset()
	}
	done := ctx.Done()
	var n int64
	cr := false
	for {
		select {
		case <-done:
			return nil, ctx.Err()
		default:
		}
		m, err := fd.Read(wk.buf)
		if m > 0 {
			n += int64(m)
			chunk := wk.buf[:m]
			if wk.normalize {
				chunk, cr = normalizeEOL(chunk, cr)
			}
			for _, h := range wk.hashes {
				h.Write(chunk)
			}
			bytesDone.Add(int64(m))
			// A short read that reaches the listed size is the end:
			// the fstat below catches a file that grew.
			if m < len(wk.buf) && n == f.size {
				break
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, Invalid(fmt.Errorf("reading %q: %w", f.name, err))
		}
	}
	after, err := fd.Stat()
	if err != nil {
		return nil, Invalid(fmt.Errorf("reading %q: %w", f.name, err))
	}
	if n != f.size || after.Size() != f.size || !after.ModTime().Equal(f.mtime) {
		return nil, fmt.Errorf("%w: %q (size %d, read %d bytes, now %d)", ErrArtifactChanged, f.name, f.size, n, after.Size())
	}
	digest := make(map[string]string, len(wk.hashes))
	for i, h := range wk.hashes {
		wk.sum = h.Sum(wk.sum[:0])
		digest[wk.algorithms[i]] = hex.EncodeToString(wk.sum)
	}
	return digest, nil
}

// normalizeEOL rewrites b in place as in-toto's line-ending normalization
// reads it: CRLF and then lone CR become LF. cr says whether the previous
// chunk ended in CR (so a leading LF belongs to it); the result says whether
// this one does.
func normalizeEOL(b []byte, cr bool) ([]byte, bool) {
	if !cr && bytes.IndexByte(b, '\r') < 0 {
		return b, false
	}
	j := 0
	for _, c := range b {
		if c == '\n' && cr {
			cr = false
			continue
		}
		cr = c == '\r'
		if cr {
			c = '\n'
		}
		b[j] = c
		j++
	}
	return b[:j], cr
}
