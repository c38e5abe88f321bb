package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// tuneGC turns the percentage off for a limit of at least the floor that
// follows the live heap, and restore puts the settings back.
func TestTuneGC(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	prevPercent := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prevPercent)
	restore := tuneGC()
	if p := debug.SetGCPercent(-1); p != -1 {
		t.Errorf("GC percent under tuneGC = %d, want -1 (off)", p)
	}
	if l := debug.SetMemoryLimit(-1); l < gcFloor {
		t.Errorf("memory limit %d, want at least the floor %d", l, gcFloor)
	}
	// A live heap above the floor raises the limit after the next cycle.
	big := make([][]byte, 0, 64)
	for range 64 {
		big = append(big, make([]byte, 1<<20))
	}
	runtime.GC()
	runtime.GC() // the finalizer of the first cycle's sentinel has run
	for range 100 {
		if debug.SetMemoryLimit(-1) >= 2*64<<20 {
			break
		}
		runtime.Gosched()
	}
	if l := debug.SetMemoryLimit(-1); l < 2*64<<20 {
		t.Errorf("memory limit %d with 64 MiB live, want at least twice that", l)
	}
	runtime.KeepAlive(big)
	restore()
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("GC percent after restore = %d, want 100", p)
	}

	t.Setenv("GOGC", "50")
	debug.SetGCPercent(50)
	tuneGC()()
	if p := debug.SetGCPercent(50); p != 50 {
		t.Errorf("GOGC=50 set: tuneGC changed the percent to %d", p)
	}
}
