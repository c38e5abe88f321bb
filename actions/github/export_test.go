package github

import (
	"io"
)

// Test hooks.

// withRandom sets the source of the output delimiters.
func withRandom(r io.Reader) Option {
	return func(o *options) { o.random = r }
}
