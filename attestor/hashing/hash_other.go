//go:build !linux

package hashing

import "context"

// newSystemWalk starts a walk with the walker of this system: outside
// Linux, portableWalk.
func (h *Hasher) newSystemWalk(ctx context.Context) (walker, error) {
	return h.newPortableWalk(ctx)
}
