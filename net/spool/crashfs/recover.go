package crashfs

import (
	"math/rand/v2"
	"slices"
)

// Mode says how Recover treats what was not synced.
type Mode int

const (
	// PowerLoss keeps, drops or tears each unsynced write and keeps a random
	// prefix of the unsynced directory operations.
	PowerLoss Mode = iota
	// ProcessCrash keeps everything: the kernel outlives a killed process.
	ProcessCrash
	// DropAll keeps only what was synced.
	DropAll
)

func (m Mode) String() string {
	switch m {
	case PowerLoss:
		return "power-loss"
	case ProcessCrash:
		return "process-crash"
	case DropAll:
		return "drop-unsynced"
	}
	return "Mode(?)"
}

// Recover is the disk as the crash left it: a new FS holding only what
// survived, all of it durable. The receiver is left as it was.
func (f *FS) Recover(rng *rand.Rand, mode Mode) *FS {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := make(map[string]*inode, len(f.durable))
	for p, ino := range f.durable {
		names[p] = ino
	}
	keepOps := 0
	switch mode {
	case ProcessCrash:
		keepOps = len(f.pending)
	case PowerLoss:
		keepOps = rng.IntN(len(f.pending) + 1)
	}
	for _, op := range f.pending[:keepOps] {
		applyDirOp(names, op)
	}
	out := New()
	for d := range f.dirs {
		out.dirs[d] = true
	}
	paths := make([]string, 0, len(names))
	for p := range names {
		paths = append(paths, p)
	}
	slices.Sort(paths) // map order must not change what rng decides
	survived := map[*inode][]byte{}
	for _, p := range paths {
		ino := names[p]
		data, ok := survived[ino]
		if !ok {
			data = survive(ino, rng, mode)
			survived[ino] = data
		}
		out.nextIno++
		n := &inode{id: out.nextIno, data: slices.Clone(data), durable: slices.Clone(data)}
		out.live[p], out.durable[p] = n, n
	}
	return out
}

// survive is what of ino's content a crash leaves.
func survive(ino *inode, rng *rand.Rand, mode Mode) []byte {
	data := slices.Clone(ino.durable)
	for _, op := range ino.pending {
		choice := 0 // keep
		switch mode {
		case DropAll:
			choice = 1
		case PowerLoss:
			choice = rng.IntN(3) // keep, drop, tear
		}
		if op.truncate {
			if choice != 1 {
				if op.off < int64(len(data)) {
					data = data[:op.off]
				} else {
					data = writeAt(data, nil, op.off)
				}
			}
			continue
		}
		b := op.b
		switch choice {
		case 1:
			continue
		case 2:
			b = slices.Clone(b[:rng.IntN(len(b)+1)])
			if len(b) > 0 && rng.IntN(2) == 0 {
				for i := len(b) - 1 - rng.IntN(min(len(b), 16)); i < len(b); i++ {
					b[i] = byte(rng.Uint32())
				}
			}
		}
		data = writeAt(data, b, op.off)
	}
	return data
}

// writeAt writes b into data at off, growing it with zeros.
func writeAt(data, b []byte, off int64) []byte {
	if end := off + int64(len(b)); end > int64(len(data)) {
		data = append(data, make([]byte, end-int64(len(data)))...)
	}
	copy(data[off:], b)
	return data
}
