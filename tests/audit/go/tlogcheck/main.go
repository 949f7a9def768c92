// SPDX-License-Identifier: Apache-2.0

// tlogcheck verifies a Paso tlog-tiles directory with golang.org/x/mod/sumdb/tlog and
// golang.org/x/mod/sumdb/note, code Paso did not write: the checkpoint's signature, every
// entry's inclusion proof (a sample of about 1,000 for larger logs), consistency proofs from
// earlier sizes, and every hash tile recomputed from the level below (x/mod's TileHashReader
// alone accepts an entry forged together with its leaf hash, so this check does not rely on it).
//
// usage: tlogcheck TILESDIR VKEY_FILE [OLD_SIZE...]
// Exit 0 and "OK ..." on success; 1 and the first problem on stderr otherwise.
package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const height = 8
const width = 1 << height

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "tlogcheck: "+format+"\n", args...)
	os.Exit(1)
}

// c2spPath is the tlog-tiles path of t: x/mod's Tile.Path has a height element ("tile/8/...")
// that c2sp.org/tlog-tiles dropped.
func c2spPath(t tlog.Tile) string {
	p := t.Path()
	prefix := fmt.Sprintf("tile/%d/", t.H)
	if !strings.HasPrefix(p, prefix) {
		fail("unexpected x/mod tile path %q", p)
	}
	return "tile/" + strings.TrimPrefix(p, prefix)
}

type dirReader struct {
	dir   string
	reads int
}

func (r *dirReader) Height() int { return height }

func (r *dirReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := os.ReadFile(filepath.Join(r.dir, c2spPath(t)))
		if err != nil {
			return nil, err
		}
		r.reads++
		out[i] = b
	}
	return out, nil
}

func (r *dirReader) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

func entryBundle(dir string, n int64, w int) [][]byte {
	t := tlog.Tile{H: height, L: 0, N: n, W: w}
	p := "tile/entries/" + strings.TrimPrefix(c2spPath(t), "tile/0/")
	b, err := os.ReadFile(filepath.Join(dir, p))
	if err != nil {
		fail("%v", err)
	}
	var entries [][]byte
	for len(b) > 0 {
		if len(b) < 2 {
			fail("%s: truncated length prefix", p)
		}
		l := int(b[0])<<8 | int(b[1])
		if len(b) < 2+l {
			fail("%s: truncated entry", p)
		}
		entries = append(entries, b[2:2+l])
		b = b[2+l:]
	}
	if len(entries) != w {
		fail("%s: %d entries, want %d", p, len(entries), w)
	}
	return entries
}

func readTile(dir string, level int, n int64, w int) []tlog.Hash {
	t := tlog.Tile{H: height, L: level, N: n, W: w}
	b, err := os.ReadFile(filepath.Join(dir, c2spPath(t)))
	if err != nil {
		fail("%v", err)
	}
	if len(b) != w*tlog.HashSize {
		fail("%s: %d bytes, want %d", c2spPath(t), len(b), w*tlog.HashSize)
	}
	hs := make([]tlog.Hash, w)
	for i := range hs {
		copy(hs[i][:], b[i*tlog.HashSize:])
	}
	return hs
}

// foldRoot is the root of a perfect subtree from its 2^k leaves (here: a full tile).
func foldRoot(hs []tlog.Hash) tlog.Hash {
	cur := append([]tlog.Hash(nil), hs...)
	for len(cur) > 1 {
		next := make([]tlog.Hash, len(cur)/2)
		for i := range next {
			next[i] = tlog.NodeHash(cur[2*i], cur[2*i+1])
		}
		cur = next
	}
	return cur[0]
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: tlogcheck TILESDIR VKEY_FILE [OLD_SIZE...]")
		os.Exit(2)
	}
	dir := os.Args[1]
	vkey, err := os.ReadFile(os.Args[2])
	if err != nil {
		fail("%v", err)
	}
	verifier, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		fail("log key: %v", err)
	}
	msg, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		fail("%v", err)
	}
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		fail("checkpoint signature: %v", err)
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 || lines[0] != verifier.Name() {
		fail("checkpoint text is not a checkpoint of %s", verifier.Name())
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size <= 0 {
		fail("checkpoint size %q", lines[1])
	}
	rootBytes, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(rootBytes) != tlog.HashSize {
		fail("checkpoint root %q", lines[2])
	}
	var root tlog.Hash
	copy(root[:], rootBytes)
	tree := tlog.Tree{N: size, Hash: root}

	// 1. x/mod's own tile reader: the tree hash and the proofs.
	reader := &dirReader{dir: dir}
	hr := tlog.TileHashReader(tree, reader)
	th, err := tlog.TreeHash(size, hr)
	if err != nil || th != root {
		fail("tree hash from tiles: %v (got %v, want %v)", err, th, root)
	}

	// 2. Every tile recomputed from the level below; leaves from the entry bundles.
	tilesChecked := 0
	var entries [][]byte
	for level := 0; ; level++ {
		count := size >> (uint(height) * uint(level))
		if count == 0 {
			break
		}
		for k := int64(0); k*width < count; k++ {
			w := int(count - k*width)
			if w > width {
				w = width
			}
			got := readTile(dir, level, k, w)
			for j := 0; j < w; j++ {
				var want tlog.Hash
				if level == 0 {
					if j == 0 {
						entries = entryBundle(dir, k, w)
					}
					want = tlog.RecordHash(entries[j])
				} else {
					want = foldRoot(readTile(dir, level-1, k*width+int64(j), width))
				}
				if got[j] != want {
					fail("%s: hash %d differs from the one recomputed from %s",
						c2spPath(tlog.Tile{H: height, L: level, N: k, W: w}), j,
						map[bool]string{true: "the entry bundle", false: "the level below"}[level == 0])
				}
			}
			tilesChecked++
		}
	}

	// 3. Inclusion proofs through x/mod (every entry for small logs, a sample otherwise).
	step := size/1000 + 1
	proofs := 0
	for i := int64(0); i < size; i += step {
		k := i / width
		w := int(size - k*width)
		if w > width {
			w = width
		}
		e := entryBundle(dir, k, w)[i%width]
		p, err := tlog.ProveRecord(size, i, hr)
		if err != nil {
			fail("prove entry %d: %v", i, err)
		}
		if err := tlog.CheckRecord(p, size, root, i, tlog.RecordHash(e)); err != nil {
			fail("entry %d: %v", i, err)
		}
		proofs++
	}
	// 4. Consistency from the given older sizes.
	for _, a := range os.Args[3:] {
		old, err := strconv.ParseInt(a, 10, 64)
		if err != nil || old <= 0 || old > size {
			fail("old size %q", a)
		}
		oh, err := tlog.TreeHash(old, hr)
		if err != nil {
			fail("tree hash at %d: %v", old, err)
		}
		p, err := tlog.ProveTree(size, old, hr)
		if err != nil {
			fail("consistency %d..%d: %v", old, size, err)
		}
		if err := tlog.CheckTree(p, size, root, old, oh); err != nil {
			fail("consistency %d..%d: %v", old, size, err)
		}
	}
	var sigs bytes.Buffer
	for _, s := range n.Sigs {
		fmt.Fprintf(&sigs, " %s", s.Name)
	}
	fmt.Printf("OK x/mod/sumdb/tlog: %d entries, %d tiles recomputed, %d inclusion proofs, %d consistency proofs, signed by%s\n",
		size, tilesChecked, proofs, len(os.Args)-3, sigs.String())
}
