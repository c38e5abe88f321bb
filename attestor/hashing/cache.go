package hashing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/safefile"
)

// CacheFile is the name, in a workspace, of the hash cache that the phases
// of a build share (Workspace.Path(CacheFile)).
const CacheFile = "_cache/hash.v1"

const (
	// racyWindow is how long before a hashing pass began a file must have
	// last changed (mtime and ctime) for its digest to be remembered. A
	// change made after the pass began, in the same timestamp granule as
	// the file's previous change, leaves size and times as they were (the
	// "racy" case of git's index); the window covers the coarse kernel
	// clock that stamps files and timestamps as coarse as 2 s (FAT).
	racyWindow = 2 * time.Second
	// maxCacheEntries bounds a Cache: when a pass leaves more, the entries
	// used longest ago are dropped. It also bounds the file's size (about
	// 130 bytes an entry).
	maxCacheEntries = 500_000
	// maxCacheFile is the largest cache file read: a bigger one is ignored.
	maxCacheFile = 128 << 20
	// cacheMagic starts a cache file; the last byte is the format version.
	// Version 2 ends with an HMAC-SHA256 instead of a CRC-32C.
	cacheMagic = "attestor hash cache\x00\x02"
	// cacheTagSize is the size of the HMAC that ends a cache file.
	cacheTagSize = sha256.Size
	// MinCacheKeySize is the shortest key OpenCache accepts.
	MinCacheKeySize = 16
)

// Algorithms are the algorithms whose digests a Cache keeps, in the
// order of cacheEntry.sums.
var Algorithms = [...]struct {
	Name string
	Size int
}{{"sha256", 32}, {"sha384", 48}, {"sha512", 64}}

func cacheAlgorithm(name string) int {
	for i, a := range Algorithms {
		if a.Name == name {
			return i
		}
	}
	return -1
}

// Cache remembers the digests of files by identity, so that a Hasher does
// not read a file again that has not changed since it was hashed: a file
// whose device, inode, size, modification time and change time (to the
// nanosecond) are those it had when hashed gets the digests it got then.
// A digest is only remembered when the file last changed well before the
// hashing pass that computed it began (see racyWindow), so a file modified
// while or after it was hashed is always read again; the change time, which
// no one can set back, catches files whose modification time was restored
// and files replaced by rename. Digests of files hashed with and without
// WithNormalizeLineEndings are not mixed up.
//
// A Cache made by NewCache lives in memory: the passes of one process
// share it, and nothing outside the process can change what it trusts.
// One made by OpenCache is also kept in a file, authenticated with a
// secret key: read by the first hashing pass that uses it, and rewritten
// atomically after each pass that learned something. A file is ignored
// unless its HMAC-SHA256 under the key verifies (anything that can write
// the file but does not hold the key, such as a command run between two
// build steps, cannot make a later pass trust a digest), and unless it is
// well-formed, owned by the current user and writable by no one else. Keep
// the key where the processes that share the file's directory cannot read
// it: the Recorder derives it from the signing key (see KeyDeriver). Within
// a process the file is read once, so a command run between two passes
// cannot change what the second pass trusts. A Cache that cannot be
// written is no error: the next process reads the files again.
//
// A Cache is safe for concurrent use by several Hashers.
type Cache struct {
	path    string
	key     []byte // of the file's HMAC; set when path is
	memFSOK bool   // tests: keep the file for a tree on tmpfs too
	now     func() time.Time

	load    sync.Once
	loaded  chan struct{} // closed once the file is read
	loadErr error         // set before loaded is closed: the file is not a regular file

	mu      sync.RWMutex // lookups read-lock it
	entries map[string]*cacheEntry

	fileMu sync.Mutex // one write of the file at a time

	writesMu sync.Mutex
	writes   int        // writes of the file in the background
	idle     *sync.Cond // on writesMu: writes fell to 0
}

// cacheEntry is what a Cache knows of one file, by absolute name.
type cacheEntry struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64 // ns since the epoch
	normalized   bool
	used         int64 // when the pass that last hashed or used it began, ns
	sums         [len(Algorithms)]string
}

// NewCache returns an empty Cache that lives in memory. Share it between
// Hashers with WithCache.
func NewCache() *Cache {
	c := &Cache{now: time.Now, entries: map[string]*cacheEntry{}, loaded: make(chan struct{})}
	close(c.loaded)
	return c
}

// OpenCache returns a Cache kept in the file path (for a workspace,
// Workspace.Path(CacheFile)) and authenticated with key, a secret of at
// least MinCacheKeySize bytes that only the processes trusted to write the
// cache hold. Nothing is read or written until a Hasher uses it; the
// directory of path is created when the file is first written. A short
// key, or an empty path, is an error matching fault.ErrInvalidInput.
func OpenCache(path string, key []byte) (*Cache, error) {
	if path == "" {
		return nil, fault.Invalidf("empty cache file name")
	}
	if len(key) < MinCacheKeySize {
		return nil, fault.Invalidf("hash cache key of %d bytes: at least %d are needed", len(key), MinCacheKeySize)
	}
	return &Cache{now: time.Now, path: path, key: slices.Clone(key), loaded: make(chan struct{})}, nil
}

// WithCache makes the Hasher use c: files that have not changed since c
// learned their digests are not read again (see Cache). A nil c means no
// cache. The default is no cache.
func WithCache(c *Cache) Option {
	return func(o *hashOptions) error {
		o.cache = c
		return nil
	}
}

// WithCacheFile is WithCache(OpenCache(path, key)): the Hasher keeps its
// cache in the file path, which other processes (the other phases of a
// build) holding key share.
func WithCacheFile(path string, key []byte) Option {
	return func(o *hashOptions) error {
		c, err := OpenCache(path, key)
		if err != nil {
			return err
		}
		o.cache = c
		return nil
	}
}

// WithoutCache turns the cache off, whatever WithCache or WithCacheFile
// options come before or after it: every file is read.
func WithoutCache() Option {
	return func(o *hashOptions) error {
		o.noCache = true
		return nil
	}
}

// cachePass is one hashing pass's use of a Cache.
type cachePass struct {
	c *Cache
	// start is when the pass began; a digest of a file that changed at or
	// after trustBefore is not remembered.
	start, trustBefore int64

	mu    sync.Mutex
	fresh []freshEntry
}

type freshEntry struct {
	key string
	e   cacheEntry
}

// begin starts a hashing pass: the first pass of a Cache kept in a file
// reads it, while the pass walks (lookup and end wait for it).
func (c *Cache) begin() *cachePass {
	c.load.Do(func() {
		// The zero Cache is an empty one in memory.
		if c.now == nil {
			c.now = time.Now
		}
		if c.loaded == nil {
			c.loaded = make(chan struct{})
			if c.path == "" {
				c.entries = map[string]*cacheEntry{}
				close(c.loaded)
			}
		}
		if c.path == "" {
			return
		}
		go func() {
			entries, err := readCache(c.path, c.key)
			c.mu.Lock()
			c.entries = entries
			c.loadErr = err
			c.mu.Unlock()
			close(c.loaded)
		}()
	})
	now := c.now()
	return &cachePass{c: c, start: now.UnixNano(), trustBefore: now.Add(-racyWindow).UnixNano()}
}

// lookup fills, for each file it knows unchanged, results[i].sums with its
// digests in algs and hit[i] with true. key names a file by its absolute
// name. It fails when the cache file is not a regular file.
func (p *cachePass) lookup(files []fileEntry, prefix string, algs []string, normalized bool, hit []bool, results []FileSum) error {
	var idx [len(Algorithms)]int
	for i, a := range algs {
		idx[i] = cacheAlgorithm(a)
		if idx[i] < 0 {
			return nil
		}
	}
	<-p.c.loaded
	p.c.mu.RLock()
	defer p.c.mu.RUnlock()
	if p.c.loadErr != nil {
		return p.c.loadErr
	}
	if len(p.c.entries) == 0 {
		return nil
	}
	// On every core: a map look-up per file is what an unchanged tree
	// costs besides the stat.
	const chunk = 2048
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for lo := 0; lo < len(files); lo += chunk {
		hi := min(lo+chunk, len(files))
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			key := []byte(prefix)
			for i := lo; i < hi; i++ {
				f := &files[i]
				key = append(key[:len(prefix)], f.name...)
				e := p.c.entries[string(key)] // no allocation
				if e == nil || e.normalized != normalized || e.dev != f.dev || e.ino != f.ino ||
					e.size != f.size || e.mtime != f.mtime || e.ctime != f.ctime {
					continue
				}
				ok := true
				for j := range algs {
					if e.sums[idx[j]] == "" {
						ok = false
						break
					}
				}
				if !ok {
					continue
				}
				var d Sums
				for j := range algs {
					d[idx[j]] = e.sums[idx[j]]
				}
				results[i].Sums = d
				hit[i] = true
				// Several passes may use one entry at once: under the
				// read lock, used is only written atomically.
				atomic.StoreInt64(&e.used, p.start)
			}
		})
	}
	wg.Wait()
	return nil
}

// expect makes room for n files to be added, so that add does not grow
// the list file by file.
func (p *cachePass) expect(n int) {
	p.mu.Lock()
	p.fresh = slices.Grow(p.fresh, n)
	p.mu.Unlock()
}

// add remembers the digests of a file read by this pass: f as listed, st
// as it was after the last read. A file that changed in between, or too
// near the pass's start, is not remembered.
func (p *cachePass) add(key string, f *fileEntry, st *fileStat, normalized bool, digest *Sums) bool {
	if st.dev != f.dev || st.ino != f.ino || st.size != f.size ||
		st.mtime != f.mtime || st.ctime != f.ctime {
		return false
	}
	if f.mtime >= p.trustBefore || f.ctime >= p.trustBefore {
		return false
	}
	e := cacheEntry{
		dev: f.dev, ino: f.ino, size: f.size, mtime: f.mtime, ctime: f.ctime,
		normalized: normalized, used: p.start,
	}
	e.sums = *digest
	p.mu.Lock()
	p.fresh = append(p.fresh, freshEntry{key, e})
	p.mu.Unlock()
	return true
}

// end merges what the pass learned into the Cache and, when it learned
// something, rewrites the Cache's file.
func (p *cachePass) end() {
	if len(p.fresh) == 0 {
		return
	}
	c := p.c
	<-c.loaded
	c.mu.Lock()
	if len(c.entries) == 0 {
		c.entries = make(map[string]*cacheEntry, len(p.fresh))
	}
	// The new entries in one block: one allocation, not one each.
	block := make([]cacheEntry, 0, len(p.fresh))
	for _, fe := range p.fresh {
		old := c.entries[fe.key]
		if old != nil && old.sameFile(&fe.e) {
			// Keep the digests of other algorithms.
			for i, s := range fe.e.sums {
				if s != "" {
					old.sums[i] = s
				}
			}
			old.used = max(old.used, fe.e.used)
			continue
		}
		block = append(block, fe.e)
		c.entries[fe.key] = &block[len(block)-1]
	}
	if len(c.entries) > maxCacheEntries {
		c.evict(maxCacheEntries)
	}
	c.mu.Unlock()
	if c.path == "" {
		return
	}
	// The file is encoded and written in the background, while the
	// Recorder runs the step's command and walks its products (flush
	// waits for it). Writes are one at a time, each of the entries as
	// they are when it starts, so the last one written is the newest.
	c.writesMu.Lock()
	c.writes++
	c.writesMu.Unlock()
	go func() {
		c.fileMu.Lock()
		c.mu.RLock()
		data := encodeCache(c.entries, c.key)
		c.mu.RUnlock()
		writeCache(c.path, data)
		c.fileMu.Unlock()
		c.writesMu.Lock()
		if c.writes--; c.writes == 0 && c.idle != nil {
			c.idle.Broadcast()
		}
		c.writesMu.Unlock()
	}()
}

// flush waits until the file is written with what every pass ended so far
// learned. (Passes of several Hashers may end meanwhile: a WaitGroup
// cannot be waited on while others add to it.)
func (c *Cache) flush() {
	c.writesMu.Lock()
	defer c.writesMu.Unlock()
	if c.idle == nil {
		c.idle = sync.NewCond(&c.writesMu)
	}
	for c.writes > 0 {
		c.idle.Wait()
	}
}

func (e *cacheEntry) sameFile(o *cacheEntry) bool {
	return e.dev == o.dev && e.ino == o.ino && e.size == o.size && e.mtime == o.mtime &&
		e.ctime == o.ctime && e.normalized == o.normalized
}

// evict drops the entries used longest ago until n are left.
func (c *Cache) evict(n int) {
	type kv struct {
		key  string
		used int64
	}
	all := make([]kv, 0, len(c.entries))
	for k, e := range c.entries {
		all = append(all, kv{k, e.used})
	}
	slices.SortFunc(all, func(a, b kv) int {
		if a.used != b.used {
			if a.used > b.used {
				return -1
			}
			return 1
		}
		return 0
	})
	for _, x := range all[n:] {
		delete(c.entries, x.key)
	}
}

// The file: cacheMagic, then the number of entries (uvarint), then each
// entry: its name (uvarint length, bytes), dev, ino (uvarint), size, mtime,
// ctime, used (varint), a flags byte (bit 0: normalized line endings; bit
// 1+i: the digest of cacheAlgorithms[i] follows) and the raw digests; last,
// the HMAC-SHA256 of everything before it under the cache's key.

// cacheTag returns the HMAC-SHA256 of body under key.
func cacheTag(body, key []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return m.Sum(nil)
}

func encodeCache(entries map[string]*cacheEntry, key []byte) []byte {
	size := len(cacheMagic) + binary.MaxVarintLen64 + cacheTagSize
	for k := range entries {
		size += len(k) + 48 + 32
	}
	b := make([]byte, 0, size)
	b = append(b, cacheMagic...)
	b = binary.AppendUvarint(b, uint64(len(entries)))
	var raw [64]byte
	// In map order: sorting 100,000 names costs more than the rest.
	for k, e := range entries {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, e.dev)
		b = binary.AppendUvarint(b, e.ino)
		b = binary.AppendVarint(b, e.size)
		b = binary.AppendVarint(b, e.mtime)
		b = binary.AppendVarint(b, e.ctime)
		// Under the read lock: lookups may store used meanwhile.
		b = binary.AppendVarint(b, atomic.LoadInt64(&e.used))
		var flags byte
		if e.normalized {
			flags |= 1
		}
		for i, s := range e.sums {
			if s != "" {
				flags |= 2 << i
			}
		}
		b = append(b, flags)
		for i, s := range e.sums {
			if s != "" {
				n, _ := hex.Decode(raw[:], []byte(s))
				b = append(b, raw[:Algorithms[i].Size][:n]...)
			}
		}
	}
	return append(b, cacheTag(b, key)...)
}

var errCorruptCache = errors.New("corrupt hash cache")

// decodeCache parses a cache file whose HMAC is under key; it fails on
// anything that is not a well-formed one, and on a file that was not
// written with key, before it parses anything.
func decodeCache(data, key []byte) (map[string]*cacheEntry, error) {
	if len(data) < len(cacheMagic)+cacheTagSize || string(data[:len(cacheMagic)]) != cacheMagic {
		return nil, errCorruptCache
	}
	body, tag := data[:len(data)-cacheTagSize], data[len(data)-cacheTagSize:]
	if !hmac.Equal(cacheTag(body, key), tag) {
		return nil, errCorruptCache
	}
	// The names are substrings of one string, the digests of another: a
	// few allocations, whatever the number of entries.
	text := string(body)
	r := &cacheReader{b: body[len(cacheMagic):]}
	n := r.uvarint()
	if r.err != nil || n > maxCacheEntries || n > uint64(len(r.b)) {
		return nil, errCorruptCache
	}
	entries := make(map[string]*cacheEntry, n)
	all := make([]cacheEntry, n)      // one allocation for every entry
	hexBuf := make([]byte, 0, n*2*32) // grows for other algorithms
	type hexRef struct {
		sum        *string
		start, end int
	}
	refs := make([]hexRef, 0, n)
	for i := range all {
		e := &all[i]
		kl := r.uvarint()
		if kl > uint64(len(r.b)) {
			return nil, errCorruptCache
		}
		at := len(body) - len(r.b)
		r.bytes(int(kl))
		key := text[at : at+int(kl)]
		e.dev = r.uvarint()
		e.ino = r.uvarint()
		e.size = r.varint()
		e.mtime = r.varint()
		e.ctime = r.varint()
		e.used = r.varint()
		flags := r.byte()
		if flags>>(1+len(Algorithms)) != 0 {
			return nil, errCorruptCache
		}
		e.normalized = flags&1 != 0
		for j, a := range Algorithms {
			if flags&(2<<j) != 0 {
				start := len(hexBuf)
				hexBuf = hex.AppendEncode(hexBuf, r.bytes(a.Size))
				refs = append(refs, hexRef{&e.sums[j], start, len(hexBuf)})
			}
		}
		if r.err != nil || key == "" || e.size < 0 {
			return nil, errCorruptCache
		}
		if _, dup := entries[key]; dup {
			return nil, errCorruptCache
		}
		entries[key] = e
	}
	if len(r.b) != 0 {
		return nil, errCorruptCache
	}
	hexText := string(hexBuf)
	for _, ref := range refs {
		*ref.sum = hexText[ref.start:ref.end]
	}
	return entries, nil
}

type cacheReader struct {
	b   []byte
	err error
}

func (r *cacheReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *cacheReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *cacheReader) byte() byte {
	if len(r.b) < 1 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *cacheReader) bytes(n int) []byte {
	if n < 0 || len(r.b) < n {
		r.fail()
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}

func (r *cacheReader) fail() {
	if r.err == nil {
		r.err = errCorruptCache
	}
	r.b = nil
}

// readCache reads the cache file path, authenticated with key; a file that
// is missing, too large, corrupt, of another version, not written with
// key, not owned by the current user or writable by others gives an empty
// cache. Something at path that is not a regular file (a FIFO planted
// there would block a plain open) is an error matching fault.ErrInvalidInput.
func readCache(path string, key []byte) (map[string]*cacheEntry, error) {
	empty := map[string]*cacheEntry{}
	f, err := safefile.OpenNonBlocking(path)
	if err != nil {
		return empty, nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return empty, nil
	}
	if !fi.Mode().IsRegular() {
		return empty, fault.Invalidf("hash cache %s is %s, not a regular file: remove it (or pass --no-cache)", path, safefile.Kind(fi.Mode()))
	}
	if !privateFile(fi) || fi.Size() > maxCacheFile {
		return empty, nil
	}
	// One allocation of the right size (growing a buffer costs more than
	// decoding).
	size := fi.Size()
	buf := make([]byte, size+1)
	n, err := io.ReadFull(f, buf)
	if int64(n) != size || (err != io.ErrUnexpectedEOF && err != io.EOF) {
		return empty, nil // changed while read
	}
	entries, err := decodeCache(buf[:n], key)
	if err != nil {
		return empty, nil
	}
	return entries, nil
}

// writeCache replaces the cache file path with data, atomically (a reader
// sees the old file or the new one). It does not sync: a file cut short by
// a crash fails its HMAC and is ignored. Errors are dropped: without
// the file, the next process reads the files again.
func writeCache(path string, data []byte) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	// Not through a symbolic link planted in place of the directory: the
	// cache would land wherever it points.
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
		return
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr != nil || cerr != nil || os.Rename(tmp, path) != nil {
		os.Remove(tmp)
	}
}
