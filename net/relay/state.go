package relay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/ferry-appliance/ferry/net/spool"
)

// dedupState is what the listener remembers per sender stream: the last
// sequence number it stored (high), and the batches it is about to store
// (pending), each with the intake sequence number its last event will have.
//
// It is written before the batches are appended, so after a crash a pending
// batch counts as stored exactly when the intake spool reaches its end
// (recover): the memory of what was stored is never behind, or ahead of,
// what the spool holds, and a resent batch is stored once.
type dedupState struct {
	gen     uint64
	high    map[string]uint64
	pending []intent
}

type intent struct {
	stream string
	last   uint64 // the sender's
	end    uint64 // the intake's sequence number of its last event
}

// resolve folds the pending intents whose end the intake reached (its next
// sequence number is next) into high, and forgets the rest.
func (st *dedupState) resolve(next uint64) {
	for _, p := range st.pending {
		if p.end < next {
			st.high[p.stream] = max(st.high[p.stream], p.last)
		}
	}
	st.pending = nil
}

const (
	stateMagic = "FDDP"
	stateName  = "dedup"
)

// stateStore keeps dedupState in two files written in turn (dedup.0 and
// dedup.1), each whole with its crc: a torn write leaves the other.
type stateStore struct {
	dir string
}

func (s stateStore) path(slot uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%s.%d", stateName, slot%2))
}

// load reads the newest good slot; none at all is an empty state.
func (s stateStore) load() (*dedupState, error) {
	var best *dedupState
	for slot := range uint64(2) {
		b, err := os.ReadFile(s.path(slot))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		st, err := decodeState(b)
		if err != nil {
			continue // torn or damaged: the other slot is the one
		}
		if best == nil || st.gen > best.gen {
			best = st
		}
	}
	if best == nil {
		best = &dedupState{high: map[string]uint64{}}
	}
	return best, nil
}

// save writes st (with the next generation) to the older slot and syncs it.
func (s stateStore) save(st *dedupState) error {
	st.gen++
	path := s.path(st.gen)
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(encodeState(st))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && statErr != nil { // a new file: its name must survive too
		err = spool.OSFS{}.SyncDir(s.dir)
	}
	return err
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func encodeState(st *dedupState) []byte {
	b := []byte(stateMagic)
	b = binary.BigEndian.AppendUint64(b, st.gen)
	b = binary.BigEndian.AppendUint32(b, uint32(len(st.high)))
	for _, k := range slices.Sorted(maps.Keys(st.high)) {
		b = appendStr(b, k)
		b = binary.BigEndian.AppendUint64(b, st.high[k])
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(st.pending)))
	for _, p := range st.pending {
		b = appendStr(b, p.stream)
		b = binary.BigEndian.AppendUint64(b, p.last)
		b = binary.BigEndian.AppendUint64(b, p.end)
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeState(b []byte) (*dedupState, error) {
	if len(b) < len(stateMagic)+16 || string(b[:4]) != stateMagic {
		return nil, errors.New("not a dedup state")
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, errors.New("dedup state: crc mismatch")
	}
	d := decoder{b: body[4:]}
	st := &dedupState{gen: d.u64(), high: map[string]uint64{}}
	for n := d.u32(); n > 0 && d.err == nil; n-- {
		k := d.str()
		st.high[k] = d.u64()
	}
	for n := d.u32(); n > 0 && d.err == nil; n-- {
		st.pending = append(st.pending, intent{stream: d.str(), last: d.u64(), end: d.u64()})
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, errors.New("dedup state: malformed")
	}
	return st, nil
}
