package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// gcFloor is the memory the commands that hash may use before the garbage
// collector runs (see tuneGC).
const gcFloor = 32 << 20

// tuneGC sets the garbage collector for a command that hashes a tree: it
// runs when the Go heap would pass gcFloor or twice its live size,
// whichever is more, instead of at twice the live size alone. A step's
// live heap is a few MB while it walks and hashes (then the default
// collects again and again, for nothing: 60 ms of a 0.43 s step over
// 20,000 files, measured), and its garbage is bounded by the tree, so the
// floor costs little memory and no GC cycle is lost on a large tree: after
// each cycle the limit follows the live heap (the scheme of Go's
// GOMEMLIMIT with GOGC=off, with the limit kept above the live heap so the
// collector never thrashes). GOGC or GOMEMLIMIT in the environment turn it
// off. The returned function restores the previous settings.
func tuneGC() (restore func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	t := &gcTuner{}
	t.percent = debug.SetGCPercent(-1)
	t.limit = debug.SetMemoryLimit(gcFloor)
	t.adjust()
	t.arm()
	return func() {
		t.stopped.Store(true)
		debug.SetMemoryLimit(t.limit)
		debug.SetGCPercent(t.percent)
	}
}

type gcTuner struct {
	percent int
	limit   int64
	stopped atomic.Bool
}

// gcSentinel is garbage at once: its finalizer runs after each GC cycle.
// (Larger than the tiny allocator's 16 bytes, so that it is freed alone.)
type gcSentinel struct{ _ [32]byte }

func (t *gcTuner) arm() {
	runtime.SetFinalizer(new(gcSentinel), func(*gcSentinel) {
		if t.stopped.Load() {
			return
		}
		t.adjust()
		t.arm()
	})
}

// adjust sets the memory limit to the floor, or to twice the live heap plus
// what the runtime holds besides the heap (stacks, metadata), whichever is
// more.
func (t *gcTuner) adjust() {
	s := []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
	metrics.Read(s)
	v := func(i int) int64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return int64(s[i].Value.Uint64())
	}
	nonHeap := v(1) - v(2) - v(3) - v(4) - v(5)
	debug.SetMemoryLimit(max(gcFloor, 2*v(0)+max(nonHeap, 0)))
}
