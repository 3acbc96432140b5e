package store

import (
	"encoding/binary"
	"hash/fnv"
	"os"
	"path/filepath"
	"testing"
)

// FuzzCheckTree: no page bytes make checkTree panic or loop; it reads two meta
// pages of a 512-byte page size and whatever follows.
func FuzzCheckTree(f *testing.F) {
	const ps = 512
	seed := make([]byte, 6*ps)
	for i := range 2 { // two meta pages pointing at a leaf root on page 2
		m := seed[i*ps+pageHeaderSize:]
		binary.LittleEndian.PutUint32(m[0:], boltMagic)
		binary.LittleEndian.PutUint32(m[4:], boltVersion)
		binary.LittleEndian.PutUint64(m[16:], 2)
		binary.LittleEndian.PutUint64(m[40:], 6)
		h := fnv.New64a()
		h.Write(m[:metaChecksumAt])
		binary.LittleEndian.PutUint64(m[metaChecksumAt:], h.Sum64())
	}
	binary.LittleEndian.PutUint16(seed[2*ps+8:], leafPageFlag)
	if !readMeta(seed[:ps]).valid {
		f.Fatal("the seed's meta page is not valid")
	}
	f.Add(seed)
	f.Add(seed[:2*ps])
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "c.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		checkTree(path, ps) // must return; its verdict is the other tests'
	})
}
