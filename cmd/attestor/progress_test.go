package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/hashing"
)

func TestHashProgressTerminal(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	show := newHashProgress(&out, true, false, slog.New(slog.DiscardHandler))
	at := func(elapsed time.Duration, files int, done bool) hashing.Progress {
		return hashing.Progress{Files: files, Bytes: int64(files) * 1e6, TotalFiles: 10, TotalBytes: 10e6,
			CachedFiles: 2, CachedBytes: 2e6, Elapsed: elapsed, Done: done}
	}
	show(at(0, 0, false))
	show(at(100*time.Millisecond, 2, false))
	if out.Len() != 0 {
		t.Errorf("drawn before %s: %q", progressDelay, out.String())
	}
	show(at(600*time.Millisecond, 5, false))
	show(at(650*time.Millisecond, 6, false)) // too soon after the last
	show(at(700*time.Millisecond, 7, false))
	show(at(800*time.Millisecond, 10, true))
	want := "\r\x1b[Kattestor: hashing 5/10 files, 5.0 MB/10.0 MB (50%), 5.0 MB/s, 2 unchanged" +
		"\r\x1b[Kattestor: hashing 7/10 files, 7.0 MB/10.0 MB (70%), 7.1 MB/s, 2 unchanged" +
		"\r\x1b[K"
	if got := out.String(); got != want {
		t.Errorf("terminal output:\n got %q\nwant %q", got, want)
	}

	// A short pass draws nothing, not even the clearing.
	out.Reset()
	show(at(0, 0, false))
	show(at(10*time.Millisecond, 10, true))
	if out.Len() != 0 {
		t.Errorf("short pass wrote %q", out.String())
	}
}

func TestHashProgressNotTerminal(t *testing.T) {
	t.Parallel()
	if newHashProgress(&bytes.Buffer{}, false, false, slog.New(slog.DiscardHandler)) != nil {
		t.Error("not a terminal, not verbose: want no progress function")
	}
	// Verbose in a CI log: only the summary of each pass, as a log line.
	var out bytes.Buffer
	show := newHashProgress(&out, false, true, slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})))
	show(hashing.Progress{TotalFiles: 3, TotalBytes: 30})
	show(hashing.Progress{Files: 1, Bytes: 10, TotalFiles: 3, TotalBytes: 30, Elapsed: time.Second})
	show(hashing.Progress{Files: 3, Bytes: 30, TotalFiles: 3, TotalBytes: 30, CachedFiles: 1, CachedBytes: 10, Elapsed: 2 * time.Second, Done: true})
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one log line, got %q", out.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["msg"] != "hashed" || rec["files"] != 3.0 || rec["cachedFiles"] != 1.0 || rec["seconds"] != 2.0 {
		t.Errorf("summary = %v", rec)
	}
}

func TestHumanBytes(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 450e6: "450.0 MB", 4294967296: "4.29 GB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
