package hashing

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"slices"
	"strings"

	"github.com/attestor/attestor/attestor/fault"
)

// DirHashAlgorithm is the in-toto DigestSet algorithm of a directory
// recorded as one artifact (in-toto attestation spec v1, digest_set.md):
// golang.org/x/mod/sumdb/dirhash's Hash1 over the directory's files,
// without the "h1:" prefix and in lowercase hex instead of base64. It is
// what `find . -type f | cut -c3- | LC_ALL=C sort | xargs -r sha256sum |
// sha256sum` prints inside the directory.
const DirHashAlgorithm = "dirHash"

// DirHasher groups the files below matching directories into one artifact
// each.
type DirHasher struct {
	match *excluder
	// absBase is the base directory, absolute, and realBase the same
	// with its symbolic links resolved, to name the given paths relative
	// to it (as the Hasher does: either may prefix an absolute path).
	absBase, realBase string
}

// NewDirHasher compiles patterns for a Recorder whose Hasher has the
// options hashOpts; nil when there are none.
func NewDirHasher(patterns []string, hashOpts []Option) (*DirHasher, error) {
	if len(patterns) == 0 {
		return nil, nil
	}
	var ho hashOptions
	for _, opt := range hashOpts {
		if err := opt(&ho); err != nil {
			return nil, err
		}
	}
	if len(ho.lstrip) > 0 {
		return nil, fault.Invalidf("--dirhash and --lstrip cannot be combined: a directory artifact is named by its path below the base directory")
	}
	if ho.algorithms != nil && !slices.Contains(ho.algorithms, "sha256") {
		return nil, fault.Invalidf("--dirhash needs the sha256 digests of the files: add sha256 to the algorithms")
	}
	for _, p := range patterns {
		if strings.TrimSpace(p) == "" || strings.HasPrefix(p, "!") {
			return nil, fault.Invalidf("--dirhash pattern %q: give a pattern that names directories (not empty, not a '!' pattern)", p)
		}
	}
	ex, err := compileExcludes(patterns)
	if err != nil {
		return nil, err
	}
	base := ho.baseDir
	if base == "" {
		base = "."
	}
	abs, err := filepath.Abs(base)
	if err != nil {
		return nil, fault.Invalid(err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		real = abs // the Hasher names what is wrong with it
	}
	return &DirHasher{match: ex, absBase: abs, realBase: real}, nil
}

// matches reports whether the directory name (relative, '/'-separated) is
// to be one artifact.
func (d *DirHasher) matches(name string) bool {
	return name != "." && d.match.prune(name)
}

// outermost returns the outermost directory above name (not name itself)
// that matches, and false when none does. seen caches the verdict of each
// directory.
func (d *DirHasher) outermost(name string, seen map[string]bool) (string, bool) {
	for i := 0; i < len(name); i++ {
		if name[i] != '/' {
			continue
		}
		dir := name[:i]
		m, ok := seen[dir]
		if !ok {
			m = d.matches(dir)
			seen[dir] = m
		}
		if m {
			return dir, true
		}
	}
	return "", false
}

// CheckPaths fails when a path to record lies inside a directory that is
// recorded as one artifact: its digest would be over part of it.
func (d *DirHasher) CheckPaths(paths []string) error {
	if d == nil {
		return nil
	}
	seen := map[string]bool{}
	for _, p := range paths {
		c := filepath.Clean(p)
		if filepath.IsAbs(c) {
			r, err := filepath.Rel(d.absBase, c)
			if err != nil || !filepath.IsLocal(r) {
				r, err = filepath.Rel(d.realBase, c)
			}
			if err != nil || !filepath.IsLocal(r) {
				continue // the Hasher names what is wrong with it
			}
			c = r
		}
		name := filepath.ToSlash(c)
		if dir, ok := d.outermost(name, seen); ok {
			return fault.Invalidf("recording %q: it lies inside %q, which --dirhash records as one artifact: name %q instead", p, dir, dir)
		}
	}
	return nil
}

// checkLink fails for a symbolic link to a directory (name, relative,
// '/'-separated) that the walk skips inside a directory recorded as one
// artifact: what it leads to would not be in the dirHash, so a link
// planted there after a step recorded the directory would leave its
// digest unchanged while the next command follows it. dirhash.HashDir
// fails on such a link too. Called concurrently by the walk.
func (d *DirHasher) checkLink(name string) error {
	if dir, ok := d.outermost(name, map[string]bool{}); ok {
		return fault.Invalidf("recording %q: a symbolic link to a directory inside %q, which --dirhash records as one artifact: what it leads to would not be in its dirHash (pass --follow-symlink-dirs to record it, or exclude it with -e)", name, dir)
	}
	return nil
}

// Group replaces the files of hs (sorted by name) that lie below a
// matching directory by one artifact for the directory, and returns the
// list, still sorted by name.
func (d *DirHasher) Group(hs []FileSum) ([]FileSum, error) {
	if d == nil || len(hs) == 0 {
		return hs, nil
	}
	seen := map[string]bool{}
	out := hs[:0]
	for i := 0; i < len(hs); {
		dir, ok := d.outermost(hs[i].Name, seen)
		if !ok {
			out = append(out, hs[i])
			i++
			continue
		}
		// The files below dir follow one another: names that share a
		// prefix are contiguous in sorted order.
		prefix := dir + "/"
		j := i
		for j < len(hs) && strings.HasPrefix(hs[j].Name, prefix) {
			j++
		}
		sum, err := dirHash(hs[i:j], len(prefix))
		if err != nil {
			return nil, err
		}
		out = append(out, FileSum{Name: dir, DirHash: sum})
		i = j
	}
	// The directory's name sorts before its files' ("d" < "d/...") but
	// may sort before names that came before them ("d" < "d.txt" <
	// "d/a"). Clear what the grouping left behind for the garbage
	// collector.
	clear(hs[len(out):])
	byName := func(a, b FileSum) int { return strings.Compare(a.Name, b.Name) }
	if !slices.IsSortedFunc(out, byName) {
		slices.SortFunc(out, byName)
	}
	return out, nil
}

// dirHash returns Hash1 of the files hs (sorted by name, each name with a
// prefix of strip bytes, the directory's), in lowercase hex.
func dirHash(hs []FileSum, strip int) (string, error) {
	h := sha256.New()
	var line []byte
	for i := range hs {
		name := hs[i].Name[strip:]
		if strings.Contains(name, "\n") {
			return "", fault.Invalidf("recording %q: dirHash does not support names with a newline", hs[i].Name)
		}
		sum := hs[i].Sums[0] // sha256: cacheAlgorithms[0]
		if len(sum) != 2*sha256.Size {
			return "", fault.Invalidf("recording %q: no sha256 digest for its directory's dirHash", hs[i].Name)
		}
		line = append(line[:0], sum...)
		line = append(line, "  "...)
		line = append(line, name...)
		line = append(line, '\n')
		h.Write(line)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
