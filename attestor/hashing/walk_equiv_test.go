package hashing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
)

// TestWalkersAgree hashes the same trees with the Linux walker and with
// portableWalk (on Linux: the two differ; elsewhere this compares the
// portable walker with itself) and compares the records, or the errors,
// byte for byte: files, nested and empty directories, symbolic links to
// files and directories (relative and absolute), excludes and
// re-includes, odd names, and the error cases (broken link, link out,
// cycle, missing path).
func TestWalkersAgree(t *testing.T) {
	t.Parallel()
	base, outside := t.TempDir(), t.TempDir()
	hashTree(t, outside, map[string]string{"secret": "s", "d/x": "x"})
	tree := map[string]string{
		"a.txt":                 "a",
		"b/c.txt":               "c\r\nd\r\n",
		"b/d/e/f.bin":           "f",
		"b/d/e/g.o":             "object",
		"b/keep.o":              "kept by !b/keep.o",
		"empty/":                "",
		"b/d/empty2/":           "",
		"node_modules/m.js":     "m",
		"src/main.go":           "package main",
		"src/.hidden":           "h",
		"src/x.pyc":             "excluded by default",
		"src/y~":                "excluded by default",
		"x.link":                "excluded by default",
		"odd/with space":        "1",
		"odd/ünïcødé":           "2",
		"odd/-dash":             "3",
		"odd/star*":             "4",
		"odd/#hash":             "5",
		"odd/[brackets]":        "6",
		"odd/back\\slash":       "7",
		"odd/new\nline":         "8",
		"odd/.dotfile":          "9",
		"links/to-file":         "->../a.txt",
		"links/to-dir":          "->../b",
		"links/abs-to-file":     "->" + filepath.Join(base, "src", "main.go"),
		"links/nested/up":       "->../../src",
		"links/chain":           "->to-file",
		"big/large.bin":         string(bytes.Repeat([]byte("0123456789abcdef"), 1<<14)),
		"deep/1/2/3/4/5/6/7/8/": "",
		"deep/1/2/3/4/5/6/7/z":  "z",
	}
	if runtime.GOOS == "windows" {
		for name := range tree {
			if bytes.ContainsAny([]byte(name), "*\\\n") {
				delete(tree, name)
			}
		}
	}
	hashTree(t, base, tree)

	bad := t.TempDir()
	hashTree(t, bad, map[string]string{
		"ok":         "ok",
		"broken":     "->nowhere",
		"out":        "->" + filepath.Join(outside, "secret"),
		"outdir":     "->" + filepath.Join(outside, "d"),
		"cyc/a":      "a",
		"cyc/loop":   "->..",
		"dir/inner":  "i",
		"dir/broken": "->../nowhere",
	})

	cases := []struct {
		name  string
		base  string
		paths []string
		opts  []Option
	}{
		{"everything", base, []string{"."}, nil},
		{"follow directory links", base, []string{"."}, []Option{WithFollowSymlinkDirs()}},
		{"excludes and re-includes", base, []string{"."}, []Option{WithExcludes("node_modules", "*.o", "!b/keep.o", "/odd/", "deep/**/z")}},
		{"no default excludes, all algorithms, normalized", base, []string{"."}, []Option{WithoutDefaultExcludes(), WithAlgorithms("sha256", "sha384", "sha512"), WithNormalizeLineEndings()}},
		{"lstrip", base, []string{"src", "b"}, []Option{WithLStrip("src/", "b/")}},
		{"named paths and links", base, []string{"a.txt", "links/to-file", "links/to-dir", "links/abs-to-file", "b/d", filepath.Join(base, "src")}, nil},
		{"overlapping paths", base, []string{"b", "b/d/e", "b/c.txt"}, nil},
		{"one worker, small buffer", base, []string{"."}, []Option{WithWorkers(1), withBufferSize(7)}},
		{"broken link", bad, []string{"broken"}, nil},
		{"broken link in a directory", bad, []string{"dir"}, nil},
		{"link to a file outside", bad, []string{"out"}, nil},
		{"link to a directory outside, followed", bad, []string{"."}, []Option{WithFollowSymlinkDirs(), WithExcludes("broken", "dir", "out", "cyc")}},
		{"link to a directory outside, not followed", bad, []string{"outdir", "ok"}, nil},
		{"cycle", bad, []string{"cyc"}, []Option{WithFollowSymlinkDirs(), WithExcludes("/broken", "/dir", "/out", "/outdir")}},
		{"cycle not followed", bad, []string{"cyc"}, nil},
		{"missing", bad, []string{"ok", "missing"}, nil},
		{"outside the base", bad, []string{outside}, nil},
		{"empty directory", base, []string{"empty"}, nil},
		{"excluded named path", base, []string{"x.link", "a.txt"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var outs [][]byte
			for _, wl := range walkers {
				opts := append([]Option{WithBaseDir(c.base)}, c.opts...)
				h, err := NewHasher(append(opts, wl.opts...)...)
				if err != nil {
					t.Fatal(err)
				}
				rds, err := h.Hash(t.Context(), c.paths)
				var out []byte
				if err != nil {
					out = fmt.Appendf(nil, "error: %v", err)
				} else if out, err = json.Marshal(hashedOf(rds)); err != nil {
					t.Fatal(err)
				}
				outs = append(outs, out)
			}
			if !bytes.Equal(outs[0], outs[1]) {
				t.Errorf("the walkers disagree:\n%s: %s\n%s: %s", walkers[0].name, outs[0], walkers[1].name, outs[1])
			}
		})
	}
}
