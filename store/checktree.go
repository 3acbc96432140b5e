package store

import (
	"encoding/binary"
	"fmt"
	"os"
)

// bbolt's page layout, as checkTree reads it: after the 16-byte page header, a
// branch page holds count elements {pos u32, ksize u32, pgid u64}; a leaf page
// count elements {flags u32, pos u32, ksize u32, vsize u32}, key and value at
// the element's address plus pos. A leaf element with bucketLeafFlag holds a
// bucket: {root pgid u64, sequence u64}, then, when root is 0, an inline page.
const (
	branchPageFlag = 0x01
	leafPageFlag   = 0x02
	bucketLeafFlag = 0x01
	elementSize    = 16
	bucketHeader   = 16
	maxTreeDepth   = 64
)

// checkTree walks every bucket's page tree from the file, refusing a page id
// outside the file, a page reached twice (a cycle, or two parents), a page of
// the wrong kind, an element that points outside its page, and a tree deeper
// than maxTreeDepth. It reads the meta page bbolt uses, picked as bbolt does.
func checkTree(path string, pageSize int) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if len(data) < 2*pageSize {
		return fmt.Errorf("shorter than its two meta pages")
	}
	a, b := readMeta(data[:pageSize]), readMeta(data[pageSize:2*pageSize])
	if b.txid > a.txid {
		a, b = b, a
	}
	if !a.valid {
		a = b
	}
	if !a.valid {
		return nil // bbolt refused it already
	}
	c := treeCheck{data: data, ps: uint64(pageSize), hwm: a.hwm, seen: map[uint64]bool{}}
	return c.page(a.root, 0)
}

type treeCheck struct {
	data    []byte
	ps, hwm uint64
	seen    map[uint64]bool
}

// page checks the page id and everything below it.
func (c *treeCheck) page(id uint64, depth int) error {
	if id < 2 || id >= c.hwm {
		return fmt.Errorf("page %d is outside the file's %d pages", id, c.hwm)
	}
	if c.seen[id] {
		return fmt.Errorf("page %d is reached twice: the page tree has a cycle", id)
	}
	c.seen[id] = true
	start := id * c.ps
	if start+pageHeaderSize > uint64(len(c.data)) {
		return fmt.Errorf("page %d lies past the end of the file", id)
	}
	overflow := uint64(binary.LittleEndian.Uint32(c.data[start+12:]))
	end := start + (overflow+1)*c.ps
	if id+overflow >= c.hwm || end > uint64(len(c.data)) {
		return fmt.Errorf("page %d runs past the end of the file", id)
	}
	return c.nodes(c.data[start:end], id, depth)
}

// nodes checks one page's elements; pg holds the page (header first).
func (c *treeCheck) nodes(pg []byte, id uint64, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("page %d: the page tree is deeper than %d", id, maxTreeDepth)
	}
	le := binary.LittleEndian
	flags, count := le.Uint16(pg[8:]), int(le.Uint16(pg[10:]))
	if pageHeaderSize+count*elementSize > len(pg) {
		return fmt.Errorf("page %d claims %d elements, more than it holds", id, count)
	}
	for i := range count {
		e := pg[pageHeaderSize+i*elementSize:]
		off := pageHeaderSize + i*elementSize
		switch flags {
		case branchPageFlag:
			if err := c.page(le.Uint64(e[8:]), depth+1); err != nil {
				return err
			}
		case leafPageFlag:
			eflags, pos, ksize, vsize := le.Uint32(e[0:]), int(le.Uint32(e[4:])), int(le.Uint32(e[8:])), int(le.Uint32(e[12:]))
			vstart := off + pos + ksize
			if pos < 0 || ksize < 0 || vsize < 0 || vstart+vsize > len(pg) {
				return fmt.Errorf("page %d: element %d points outside the page", id, i)
			}
			if eflags&bucketLeafFlag == 0 {
				continue
			}
			v := pg[vstart : vstart+vsize]
			if len(v) < bucketHeader {
				return fmt.Errorf("page %d: bucket element %d is too short", id, i)
			}
			if root := le.Uint64(v); root != 0 {
				if err := c.page(root, depth+1); err != nil {
					return err
				}
			} else {
				// bbolt never writes an inline bucket that is not one leaf page,
				// and reads a branch there as itself for ever.
				if len(v) < bucketHeader+pageHeaderSize || le.Uint16(v[bucketHeader+8:]) != leafPageFlag {
					return fmt.Errorf("page %d: inline bucket %d is not a leaf page", id, i)
				}
				if err := c.nodes(v[bucketHeader:], id, depth+1); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("page %d is neither a branch nor a leaf page (flags %#x)", id, flags)
		}
	}
	return nil
}
