// Command tlog_tiles verifies a Reliquary log published as C2SP tlog-tiles static files with
// Go's golang.org/x/mod/sumdb/tlog: an independent implementation of the tiled Merkle tree
// (research.swtch.com/tlog), written for the Go checksum database.
//
// Usage:
//
//	tlog_tiles [-v] [-old N -oldroot B64] [-leaf I]... SOURCE
//	tlog_tiles -paths L,N,W...
//
// SOURCE is a folder or an http(s) URL prefix holding `checkpoint` and `tile/...`.
//
// What is Go's and what is ours. sumdb and C2SP tlog-tiles share the hash tiles: the same
// RFC 6962 hashes (SHA-256, 0x00 leaf and 0x01 node prefixes), tiles of height 8 (256 hashes),
// tile L holding the hashes of the perfect subtrees at tree level 8*L, the same index encoding
// (x001/234/067) and the same partial-tile suffix (.p/W). Only the path differs: sumdb writes the
// height, tile/8/L/NNN, where C2SP writes tile/L/NNN. So tlog reads the hash tiles itself
// through tlog.TileHashReader, which authenticates the tiles it reads against the tree hash
// (the tiles of the tree hash first, then each full tile against its parent; the second step
// is repeated here, see SaveTiles): a changed byte in any hash tile read is an error.
//
// The leaves are not sumdb's: sumdb's data tiles (tile/8/data/NNN) hold go.sum records, C2SP
// entry bundles (tile/entries/NNN) hold entries each prefixed by a big-endian uint16 length.
// Reading a bundle is our own small parser (readEntry); tlog then hashes the entry
// (tlog.RecordHash, the RFC 6962 leaf hash) and checks its inclusion proof against the root.
//
// The checkpoint's note signature is not checked here (the Python side does): only its first
// three lines are read, origin, size and base64 root hash (c2sp.org/tlog-checkpoint).
//
// Prints "OK: ..." and exits 0, or "FAIL: ..." and exits 1. With -v it first lists every tile
// and bundle it read, one "read PATH" line each.
package main

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

const (
	tileHeight   = 8                // C2SP tlog-tiles fixes the height: 256 hashes a tile
	tileWidth    = 1 << tileHeight  // entries in a full entry bundle
	maxFileSize  = 16 << 20         // no tile, bundle or checkpoint is near this: refuse more
	fetchTimeout = 10 * time.Second // per HTTP request
)

// source reads a path under a folder or a URL prefix.
type source struct {
	prefix  string
	http    bool
	verbose bool
	client  http.Client
}

func (s *source) read(path string) ([]byte, error) {
	if s.verbose {
		fmt.Println("read " + path)
	}
	var body io.Reader
	if s.http {
		answer, err := s.client.Get(s.prefix + path)
		if err != nil {
			return nil, err
		}
		defer answer.Body.Close()
		if answer.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s: HTTP %s", path, answer.Status)
		}
		body = answer.Body
	} else {
		file, err := os.Open(filepath.Join(s.prefix, filepath.FromSlash(path)))
		if err != nil {
			return nil, err
		}
		defer file.Close()
		body = file
	}
	data, err := io.ReadAll(io.LimitReader(body, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: more than %d bytes", path, maxFileSize)
	}
	return data, nil
}

// c2spPath is the C2SP tlog-tiles path of a sumdb hash tile: tlog's own path with the height
// component ("tile/8/...") dropped. Data tiles (L == -1) have no C2SP counterpart.
func c2spPath(tile tlog.Tile) (string, error) {
	if tile.H != tileHeight {
		return "", fmt.Errorf("tile of height %d: C2SP tiles have height %d", tile.H, tileHeight)
	}
	if tile.L < 0 {
		return "", errors.New("sumdb data tiles do not apply: C2SP serves entry bundles")
	}
	sumdb := tile.Path()
	prefix := fmt.Sprintf("tile/%d/", tileHeight)
	if !strings.HasPrefix(sumdb, prefix) {
		return "", fmt.Errorf("unexpected sumdb tile path %q", sumdb)
	}
	return "tile/" + strings.TrimPrefix(sumdb, prefix), nil
}

// tileReader is a tlog.TileReader over the C2SP layout for a tree of `size` leaves. It fetches;
// authenticating is tlog.TileHashReader's work, with one check repeated here (SaveTiles).
type tileReader struct {
	source *source
	size   int64
	err    error // the first tile found not to hash to its parent's hash (see SaveTiles)
}

func (r *tileReader) Height() int { return tileHeight }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	data := make([][]byte, len(tiles))
	for i, tile := range tiles {
		path, err := c2spPath(tile)
		if err != nil {
			return nil, err
		}
		if data[i], err = r.source.read(path); err != nil {
			return nil, err
		}
	}
	return data, nil
}

// SaveTiles is called once tlog has authenticated a batch of tiles: the tiles of the tree hash
// against the root, then (so its comment says) every other full tile against the hash its
// parent tile holds for it. x/mod before v0.40.0 starts that second loop at the wrong index and
// skips the first tiles after the tree hash's (go.dev/issue/80744, CVE-2026-56865): with the
// Debian x/mod 0.7.0 a changed tile/0/000 is read unauthenticated. So the parent check is made
// again here, and verify stops on r.err before using any hash of the batch. Parents come before
// their children in a batch and the tree hash's tiles (never full) are authenticated by tlog, so
// this authenticates every full tile in the batch.
func (r *tileReader) SaveTiles(tiles []tlog.Tile, data [][]byte) {
	order := make(map[tlog.Tile]int, len(tiles))
	for i, tile := range tiles {
		order[tile] = i
	}
	for i, tile := range tiles {
		if tile.W != tileWidth || r.err != nil {
			continue // a partial tile has no parent hash: it is one of the tree hash's
		}
		parent := tlog.Tile{H: tileHeight, L: tile.L + 1, N: tile.N >> tileHeight, W: tileWidth}
		if hashes := r.size >> (tileHeight * parent.L); hashes < (parent.N+1)*tileWidth {
			parent.W = int(hashes - parent.N*tileWidth)
		}
		path, _ := c2spPath(tile)
		j, ok := order[parent]
		if !ok {
			r.err = fmt.Errorf("%s: its parent tile was not read, it cannot be authenticated", path)
			continue
		}
		want, err := tlog.HashFromTile(parent, data[j], tlog.StoredHashIndex(parent.L*tileHeight, tile.N))
		if err != nil {
			r.err = fmt.Errorf("%s: %v", path, err)
		} else if got := tileRoot(data[i]); got != want {
			parentPath, _ := c2spPath(parent)
			r.err = fmt.Errorf("%s hashes to %s, its parent %s says %s", path, got, parentPath, want)
		}
	}
}

// tileRoot is the Merkle root of a full tile's 256 hashes (the hash its parent tile holds).
func tileRoot(data []byte) tlog.Hash {
	if len(data) == tlog.HashSize {
		var hash tlog.Hash
		copy(hash[:], data)
		return hash
	}
	half := len(data) / 2
	return tlog.NodeHash(tileRoot(data[:half]), tileRoot(data[half:]))
}

// readEntry reads leaf `index` of a tree of `size` leaves from its C2SP entry bundle
// (ours, not tlog's): bundle N = index/256, partial (.p/W) when the tree ends inside it.
func readEntry(s *source, index, size int64) ([]byte, error) {
	n := index / tileWidth
	width := size - n*tileWidth
	if width > tileWidth {
		width = tileWidth
	}
	// The entry bundle's path is the level-0 hash tile's with "entries" for the level.
	path, err := c2spPath(tlog.Tile{H: tileHeight, L: 0, N: n, W: int(width)})
	if err != nil {
		return nil, err
	}
	path = "tile/entries/" + strings.TrimPrefix(path, "tile/0/")
	bundle, err := s.read(path)
	if err != nil {
		return nil, err
	}
	var entries [][]byte
	for position := 0; position < len(bundle); {
		if position+2 > len(bundle) {
			return nil, fmt.Errorf("%s: a length prefix is cut off at byte %d", path, position)
		}
		length := int(bundle[position])<<8 | int(bundle[position+1])
		position += 2
		if position+length > len(bundle) {
			return nil, fmt.Errorf("%s: entry %d says %d bytes, %d remain",
				path, len(entries), length, len(bundle)-position)
		}
		entries = append(entries, bundle[position:position+length])
		position += length
	}
	if int64(len(entries)) != width {
		return nil, fmt.Errorf("%s: %d entries, want %d", path, len(entries), width)
	}
	return entries[index-n*tileWidth], nil
}

// parseCheckpoint reads origin, size and root hash from a checkpoint's first three lines.
func parseCheckpoint(note []byte) (string, tlog.Tree, error) {
	lines := strings.SplitN(string(note), "\n", 4)
	if len(lines) < 4 {
		return "", tlog.Tree{}, errors.New("checkpoint: fewer than three lines")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 {
		return "", tlog.Tree{}, fmt.Errorf("checkpoint: bad size %q", lines[1])
	}
	root, err := parseHash(lines[2])
	if err != nil {
		return "", tlog.Tree{}, fmt.Errorf("checkpoint: %v", err)
	}
	return lines[0], tlog.Tree{N: size, Hash: root}, nil
}

func parseHash(text string) (tlog.Hash, error) {
	var hash tlog.Hash
	raw, err := base64.StdEncoding.DecodeString(text)
	if err != nil || len(raw) != tlog.HashSize {
		return hash, fmt.Errorf("bad base64 SHA-256 hash %q", text)
	}
	copy(hash[:], raw)
	return hash, nil
}

// leafList is a repeatable -leaf flag.
type leafList []int64

func (l *leafList) String() string { return fmt.Sprint(*l) }
func (l *leafList) Set(text string) error {
	index, err := strconv.ParseInt(text, 10, 64)
	if err == nil {
		*l = append(*l, index)
	}
	return err
}

func verify(s *source, oldSize int64, oldRoot string, leaves []int64) (string, error) {
	note, err := s.read("checkpoint")
	if err != nil {
		return "", err
	}
	origin, tree, err := parseCheckpoint(note)
	if err != nil {
		return "", err
	}
	if tree.N == 0 {
		return "", errors.New("the checkpoint is of an empty tree: nothing to verify")
	}
	reader := &tileReader{source: s, size: tree.N}
	hashes := tlog.TileHashReader(tree, reader)

	// The root, recomputed from the tiles tlog authenticated against that same root: any
	// inconsistent tile fails inside the reader, before the comparison.
	root, err := tlog.TreeHash(tree.N, hashes)
	if err == nil {
		err = reader.err
	}
	if err != nil {
		return "", fmt.Errorf("tree hash of %d leaves: %v", tree.N, err)
	}
	if root != tree.Hash {
		return "", fmt.Errorf("tree hash %s, checkpoint says %s", root, tree.Hash)
	}

	if len(leaves) == 0 {
		leaves = []int64{0, tree.N / 2, tree.N - 1}
	}
	for _, index := range leaves {
		if index < 0 || index >= tree.N {
			return "", fmt.Errorf("leaf %d is not in a tree of %d", index, tree.N)
		}
		entry, err := readEntry(s, index, tree.N)
		if err != nil {
			return "", err
		}
		proof, err := tlog.ProveRecord(tree.N, index, hashes)
		if err == nil {
			err = reader.err
		}
		if err != nil {
			return "", fmt.Errorf("inclusion proof of leaf %d: %v", index, err)
		}
		if err := tlog.CheckRecord(proof, tree.N, tree.Hash, index, tlog.RecordHash(entry)); err != nil {
			return "", fmt.Errorf("leaf %d: %v", index, err)
		}
	}
	done := fmt.Sprintf("%s: tree of %d leaves, root %s; inclusion of leaves %v",
		origin, tree.N, tree.Hash, leaves)

	if oldRoot != "" {
		old, err := parseHash(oldRoot)
		if err != nil {
			return "", fmt.Errorf("-oldroot: %v", err)
		}
		if oldSize <= 0 || oldSize > tree.N {
			return "", fmt.Errorf("-old %d is not a size from 1 to %d", oldSize, tree.N)
		}
		proof, err := tlog.ProveTree(tree.N, oldSize, hashes)
		if err == nil {
			err = reader.err
		}
		if err != nil {
			return "", fmt.Errorf("consistency proof from %d: %v", oldSize, err)
		}
		if err := tlog.CheckTree(proof, tree.N, tree.Hash, oldSize, old); err != nil {
			return "", fmt.Errorf("consistency from %d: %v", oldSize, err)
		}
		done += fmt.Sprintf("; consistent with the tree of %d", oldSize)
	}
	return done, nil
}

// printPaths prints the C2SP path of each "L,N,W" tile, for comparison with Python's tile_path.
func printPaths(specs []string) error {
	for _, spec := range specs {
		var level, width int
		var index int64
		if _, err := fmt.Sscanf(spec, "%d,%d,%d", &level, &index, &width); err != nil {
			return fmt.Errorf("%q is not L,N,W: %v", spec, err)
		}
		path, err := c2spPath(tlog.Tile{H: tileHeight, L: level, N: index, W: width})
		if err != nil {
			return err
		}
		fmt.Println(path)
	}
	return nil
}

func main() {
	oldSize := flag.Int64("old", 0, "size of an earlier checkpoint to prove consistency from")
	oldRoot := flag.String("oldroot", "", "base64 root hash of that earlier checkpoint")
	paths := flag.Bool("paths", false, "print the C2SP path of each L,N,W argument and exit")
	verbose := flag.Bool("v", false, "list every file read")
	var leaves leafList
	flag.Var(&leaves, "leaf", "a leaf index to prove (repeatable; default first, middle, last)")
	flag.Parse()

	if *paths {
		if err := printPaths(flag.Args()); err != nil {
			fmt.Println("FAIL: " + err.Error())
			os.Exit(1)
		}
		return
	}
	if flag.NArg() != 1 || (*oldSize != 0) != (*oldRoot != "") {
		fmt.Fprintln(os.Stderr, "usage: tlog_tiles [-v] [-old N -oldroot B64] [-leaf I]... SOURCE")
		os.Exit(2)
	}
	s := &source{prefix: flag.Arg(0), verbose: *verbose, client: http.Client{Timeout: fetchTimeout}}
	if strings.HasPrefix(s.prefix, "http://") || strings.HasPrefix(s.prefix, "https://") {
		s.http = true
		if !strings.HasSuffix(s.prefix, "/") {
			s.prefix += "/"
		}
	}
	done, err := verify(s, *oldSize, *oldRoot, leaves)
	if err != nil {
		fmt.Println("FAIL: " + err.Error())
		os.Exit(1)
	}
	fmt.Println("OK: " + done)
}
