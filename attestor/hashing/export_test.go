package hashing

import (
	"slices"

	"github.com/attestor/attestor/attestor/fault"
)

// Test hooks for the tests of package hashing_test (the Recorder's use of
// the cache).
var (
	HashTree    = hashTree
	Settle      = settle
	FutureCache = futureCache
	HashedOf    = hashedOf
	SHA256Only  = sha256Only
)

// WithPortableWalk exports withPortableWalk to the tests of package
// hashing_test.
var WithPortableWalk = withPortableWalk

// Options and methods only the tests use.

// WithWorkers sets how many files are hashed at once. n must be at least
// 1. The default is runtime.GOMAXPROCS(0).
func WithWorkers(n int) Option {
	return func(o *hashOptions) error {
		if n < 1 {
			return fault.Invalidf("hash workers must be at least 1, not %d", n)
		}
		o.workers = n
		return nil
	}
}

// WithAlgorithms sets the digests computed for each file, by in-toto name:
// "sha256", "sha384", "sha512". It replaces the list of an earlier
// WithAlgorithms. The default is "sha256" alone.
func WithAlgorithms(algs ...string) Option {
	return func(o *hashOptions) error {
		if len(algs) == 0 {
			return fault.Invalidf("no hash algorithm given")
		}
		o.algorithms = o.algorithms[:0]
		for _, a := range algs {
			if hashAlgorithms[a] == nil {
				return fault.Invalidf("unknown hash algorithm %q (known: sha256, sha384, sha512)", a)
			}
			if !slices.Contains(o.algorithms, a) {
				o.algorithms = append(o.algorithms, a)
			}
		}
		return nil
	}
}

// withBufferSize sets the read buffer of each worker.
func withBufferSize(n int) Option {
	return func(o *hashOptions) error {
		if n < 1 {
			return fault.Invalidf("buffer size must be at least 1, not %d", n)
		}
		o.bufferSize = n
		return nil
	}
}

// withPortableWalk makes the Hasher walk with the walker of the systems
// other than Linux (portableWalk), on Linux too. For the tests that
// compare the two.
func withPortableWalk() Option {
	return func(o *hashOptions) error {
		o.portableWalk = true
		return nil
	}
}

// match reports whether p matches name exactly as pathspec does.
func (p *pattern) match(name string) bool {
	return p.matchName(name, segmentable(name))
}
