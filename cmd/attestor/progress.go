package main

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/attestor/attestor/attestor/hashing"
)

const (
	// progressDelay is how long hashing runs before the terminal line
	// appears: short passes do not flicker.
	progressDelay = 500 * time.Millisecond
	// progressRedraw is the shortest time between two redraws (~10 Hz).
	progressRedraw = 100 * time.Millisecond
)

// hashProgress shows the hasher's progress. On a terminal it draws one
// line on w (files, bytes, rate, what came from the cache), redrawn at
// most ~10 times a second once hashing has run for progressDelay, and
// cleared at the end of each pass. With verbose, the end of each pass is
// also logged (files, bytes, cached, seconds), on a terminal or not;
// elsewhere (a CI log) nothing is written.
type hashProgress struct {
	w        io.Writer
	terminal bool
	log      *slog.Logger // nil: no summary

	drawn    bool
	lastDraw time.Duration
}

// newHashProgress returns the progress function for the hasher, or nil
// when there is nothing to show.
func newHashProgress(w io.Writer, terminal bool, verbose bool, log *slog.Logger) func(hashing.Progress) {
	if !terminal && !verbose {
		return nil
	}
	p := &hashProgress{w: w, terminal: terminal}
	if verbose {
		p.log = log
	}
	return p.report
}

// report is called by the hasher, from one goroutine at a time.
func (p *hashProgress) report(r hashing.Progress) {
	if r.Done {
		if p.drawn {
			fmt.Fprint(p.w, "\r\x1b[K")
		}
		p.drawn, p.lastDraw = false, 0
		if p.log != nil {
			p.log.Debug("hashed", "files", r.Files, "bytes", r.Bytes, "cachedFiles", r.CachedFiles,
				"cachedBytes", r.CachedBytes, "totalFiles", r.TotalFiles, "seconds", r.Elapsed.Seconds())
		}
		return
	}
	if !p.terminal || r.Elapsed < progressDelay || (p.drawn && r.Elapsed-p.lastDraw < progressRedraw) {
		return
	}
	fmt.Fprint(p.w, "\r\x1b[K"+progressLine(r))
	p.drawn, p.lastDraw = true, r.Elapsed
}

// progressLine describes r in one short line.
func progressLine(r hashing.Progress) string {
	s := fmt.Sprintf("attestor: hashing %d/%d files, %s/%s", r.Files, r.TotalFiles, humanBytes(r.Bytes), humanBytes(r.TotalBytes))
	if r.TotalBytes > 0 {
		s += fmt.Sprintf(" (%d%%)", r.Bytes*100/r.TotalBytes)
	}
	if secs := r.Elapsed.Seconds(); secs > 0 {
		s += fmt.Sprintf(", %s/s", humanBytes(int64(float64(r.Bytes-r.CachedBytes)/secs)))
	}
	if r.CachedFiles > 0 {
		s += fmt.Sprintf(", %d unchanged", r.CachedFiles)
	}
	return s
}

// humanBytes writes n in B, kB, MB or GB (powers of 1000).
func humanBytes(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000_000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	case n < 1000_000_000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2f GB", float64(n)/1e9)
}
