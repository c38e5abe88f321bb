package attestor

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
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

func benchHash(b *testing.B, dir string, total int64, opts ...HashOption) {
	h, err := NewHasher(append([]HashOption{WithBaseDir(dir)}, opts...)...)
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
