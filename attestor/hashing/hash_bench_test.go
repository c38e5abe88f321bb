//go:build unix

package hashing

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// benchTree writes n files of about size bytes each (sizes vary, content is
// random) under a new directory and returns it and the total size.
func benchTree(b *testing.B, n, size int) (string, int64) {
	b.Helper()
	dir := b.TempDir()
	r := rand.New(rand.NewSource(1))
	buf := make([]byte, 2*size)
	r.Read(buf)
	var total int64
	for i := range n {
		sz := size/2 + r.Intn(size+1)
		p := filepath.Join(dir, fmt.Sprintf("d%02d", i%50), fmt.Sprintf("f%05d", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, buf[:sz], 0o644); err != nil {
			b.Fatal(err)
		}
		total += int64(sz)
	}
	return dir, total
}

func benchHash(b *testing.B, dir string, total int64, opts ...Option) {
	h, err := NewHasher(append([]Option{WithBaseDir(dir)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	// Warm the page cache: measure hashing, not the disk.
	if _, err := h.Hash(ctx, []string{"."}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(total)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := h.Hash(ctx, []string{"."}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(total)*float64(b.N)/b.Elapsed().Seconds()/1e6, "MB/s")
}

// BenchmarkHashManySmall hashes 2,000 files of 1–3 KiB: the cost of the
// walk, opening files and the worker pool.
func BenchmarkHashManySmall(b *testing.B) {
	dir, total := benchTree(b, 2000, 2<<10)
	b.Run("workers=default", func(b *testing.B) { benchHash(b, dir, total) })
	b.Run("workers=1", func(b *testing.B) { benchHash(b, dir, total, WithWorkers(1)) })
}

// BenchmarkHashMixed hashes 2,000 files of 11–33 KiB (about the mix of
// the comparison script).
func BenchmarkHashMixed(b *testing.B) {
	dir, total := benchTree(b, 2000, 22<<10)
	b.Run("workers=default", func(b *testing.B) { benchHash(b, dir, total) })
}

// largeFiles writes n files of size bytes of random content under a new
// directory.
func largeFiles(b *testing.B, n int, size int64) string {
	b.Helper()
	dir := b.TempDir()
	buf := make([]byte, 1<<20)
	rand.New(rand.NewSource(1)).Read(buf)
	for i := range n {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("large%d", i)))
		if err != nil {
			b.Fatal(err)
		}
		for range size / int64(len(buf)) {
			if _, err := f.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		// Written back now, not by the kernel while the benchmark runs.
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// sha256Rate measures crypto/sha256 on one core, in memory, in MB/s: the
// best of a few rounds of 64 MiB (the best, as other work on the machine
// only slows it down).
func sha256Rate() float64 {
	buf := make([]byte, defaultBufferSize)
	rand.New(rand.NewSource(1)).Read(buf)
	h := sha256.New()
	best := 0.0
	for range 5 {
		start := time.Now()
		for range (64 << 20) / len(buf) {
			h.Write(buf)
		}
		best = max(best, 64<<20/time.Since(start).Seconds()/1e6)
	}
	return best
}

// BenchmarkHashLargeFiles hashes 4 files of 128 MiB with a worker per core
// (a file is hashed by one worker: SHA-256 is sequential). Besides MB/s it
// reports the single-core SHA-256 rate measured in the same run and the
// hasher's rate as a share of cores × that: how close it comes to the
// machine's limit.
func BenchmarkHashLargeFiles(b *testing.B) {
	const n, size = 4, 128 << 20
	dir := largeFiles(b, n, size)
	single := sha256Rate()
	benchHash(b, dir, n*size)
	rate := float64(n*size) * float64(b.N) / b.Elapsed().Seconds() / 1e6
	cores := runtime.GOMAXPROCS(0)
	b.ReportMetric(single, "sha256-MB/s/core")
	b.ReportMetric(100*rate/(float64(cores)*single), "%-of-cores×sha256")
}

// BenchmarkReadPageCache reads the 4 × 128 MiB files from the page cache
// with the hasher's buffer, one reader per core, without hashing: the
// syscall and copy cost that hashing adds to SHA-256.
func BenchmarkReadPageCache(b *testing.B) {
	const n, size = 4, 128 << 20
	dir := largeFiles(b, n, size)
	read := func(name string, buf []byte) {
		fd, err := unix.Open(filepath.Join(dir, name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer unix.Close(fd)
		for {
			m, err := unix.Read(fd, buf)
			if err != nil {
				b.Fatal(err)
			}
			if m == 0 {
				return
			}
		}
	}
	for _, readers := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("readers=%d", readers), func(b *testing.B) {
			b.SetBytes(n * size)
			for b.Loop() {
				var wg sync.WaitGroup
				next := make(chan int, n)
				for i := range n {
					next <- i
				}
				close(next)
				for range readers {
					wg.Go(func() {
						buf := make([]byte, defaultBufferSize)
						for i := range next {
							read(fmt.Sprintf("large%d", i), buf)
						}
					})
				}
				wg.Wait()
			}
			b.ReportMetric(float64(n*size)*float64(b.N)/b.Elapsed().Seconds()/1e6, "MB/s")
		})
	}
}

// BenchmarkHashUnchanged hashes the tree of BenchmarkHashMixed again with
// a cache that knows every file: a stat per file, no read.
func BenchmarkHashUnchanged(b *testing.B) {
	dir, total := benchTree(b, 2000, 22<<10)
	c := NewCache()
	c.now = func() time.Time { return time.Now().Add(time.Hour) } // the files were just written
	b.Run("cache", func(b *testing.B) { benchHash(b, dir, total, WithCache(c)) })
	b.Run("no-cache", func(b *testing.B) { benchHash(b, dir, total) })
}

// BenchmarkHashLarge hashes one 256 MiB file: the read loop and sha256.
func BenchmarkHashLarge(b *testing.B) {
	dir := b.TempDir()
	buf := make([]byte, 1<<20)
	rand.New(rand.NewSource(1)).Read(buf)
	f, err := os.Create(filepath.Join(dir, "large"))
	if err != nil {
		b.Fatal(err)
	}
	const size = 256 << 20
	for range size / len(buf) {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	for _, bs := range []int{64 << 10, defaultBufferSize, 1 << 20} {
		b.Run(fmt.Sprintf("buffer=%dKiB", bs>>10), func(b *testing.B) {
			benchHash(b, dir, size, withBufferSize(bs))
		})
	}
	b.Run("normalize", func(b *testing.B) { benchHash(b, dir, size, WithNormalizeLineEndings()) })
	b.Run("sha256+sha512", func(b *testing.B) { benchHash(b, dir, size, WithAlgorithms("sha256", "sha512")) })
}

// BenchmarkSHA256 is crypto/sha256 on one core, in memory: what one
// worker can do at best.
func BenchmarkSHA256(b *testing.B) {
	buf := make([]byte, defaultBufferSize)
	rand.New(rand.NewSource(1)).Read(buf)
	h := sha256.New()
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for b.Loop() {
		h.Write(buf)
	}
	b.ReportMetric(float64(len(buf))*float64(b.N)/b.Elapsed().Seconds()/1e6, "MB/s")
}
