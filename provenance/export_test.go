package provenance

import "time"

// WithClock sets the clock that dates the end of the build when no step
// record says when it finished: a test hook for package provenance_test
// (the binary uses time.Now).
func WithClock(now func() time.Time) Option {
	return func(o *options) error { o.clock = now; return nil }
}
