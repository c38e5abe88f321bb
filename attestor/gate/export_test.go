package gate

import (
	"errors"
	"time"
)

// Test hooks: a clock, an unsafe option and a Policy built in Go, which
// the binary does not use.

// WithClock sets the clock the policy's expiry and the provenance's age
// are checked against (the binary uses time.Now).
func WithClock(now func() time.Time) Option {
	return func(o *options) error { o.clock = now; return nil }
}

// WithExpiredPolicyUnsafe accepts a policy whose expiry has passed: the
// result carries a warning instead of an ErrPolicyExpired reason.
func WithExpiredPolicyUnsafe() Option {
	return func(o *options) error { o.expiredUnsafe = true; return nil }
}

// Compile validates a Policy built in Go and loads its keys (paths
// relative to dir). Parsed policies are already compiled. Errors match
// ErrPolicy.
func (p *Policy) Compile(dir string) error {
	if p.Version != PolicyVersion {
		return policyErr("", 0, "version", "unsupported version %d (want %d)", p.Version, PolicyVersion)
	}
	if p.Expires.IsZero() {
		return policyErr("", 0, "expires", "required")
	}
	return errors.Join(p.compile(dir, "", func(...any) int { return 0 })...)
}
