package hashing

import "testing"

// TestLinuxWalkerIsDefault: on Linux, Hash walks with the getdents walker
// unless withPortableWalk is given.
func TestLinuxWalkerIsDefault(t *testing.T) {
	t.Parallel()
	for _, wl := range walkers {
		h, err := NewHasher(append([]Option{WithBaseDir(t.TempDir())}, wl.opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		w, err := h.newWalk(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		_, linux := w.(*walk)
		_, portable := w.(*portableWalk)
		w.close()
		if wl.opts == nil && !linux || wl.opts != nil && !portable {
			t.Errorf("%s: walker %T", wl.name, w)
		}
	}
}
