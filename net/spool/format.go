package spool

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
)

// The on-disk layout (FORMAT.md describes it for people). All integers are
// little-endian.
const (
	formatVersion = 1

	segMagic     = "FSEG"
	segHeaderLen = 32 // magic, version, header length, first seq, created, crc, zero

	frameLen    = 8  // body length, crc32c of the body
	bodyFixed   = 20 // first seq, event count, append time
	headLen     = frameLen + bodyFixed
	sealPayload = 12 // next seq, record count
	sealLen     = headLen + sealPayload

	maxBodyLen = 1 << 30 // a record's body; more is garbage, not data
	maxCount   = 1 << 24 // events in a record
	maxSeq     = 1 << 62 // sequence numbers stay far from overflow
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// segName is the file name of the segment whose first record is first.
func segName(first uint64) string { return fmt.Sprintf("%020d.seg", first) }

// parseSegName is the first sequence number a segment file name holds.
func parseSegName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, ".seg")
	if !ok {
		return 0, false
	}
	return parseSeq(digits)
}

// parseBadName is the first sequence number a quarantined file's name
// holds: <20 digits>.seg.bad or <20 digits>.seg.<n>.bad.
func parseBadName(name string) (uint64, bool) {
	rest, ok := strings.CutSuffix(name, ".bad")
	if !ok || len(rest) < 24 || rest[20:24] != ".seg" {
		return 0, false
	}
	if tail := rest[24:]; tail != "" {
		if n, err := strconv.ParseUint(strings.TrimPrefix(tail, "."), 10, 32); tail[0] != '.' || err != nil || n == 0 {
			return 0, false
		}
	}
	return parseSeq(rest[:20])
}

func parseSeq(digits string) (uint64, bool) {
	if len(digits) != 20 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, err == nil && n < maxSeq
}

// appendSegHeader appends the header of a segment whose first record will be first.
func appendSegHeader(dst []byte, first uint64, created int64) []byte {
	start := len(dst)
	dst = append(dst, segMagic...)
	dst = binary.LittleEndian.AppendUint16(dst, formatVersion)
	dst = binary.LittleEndian.AppendUint16(dst, segHeaderLen)
	dst = binary.LittleEndian.AppendUint64(dst, first)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(created))
	dst = binary.LittleEndian.AppendUint32(dst, crc(dst[start:]))
	return binary.LittleEndian.AppendUint32(dst, 0)
}

// checkSegHeader says what is wrong with a segment header ("" if nothing)
// for a segment named after first.
func checkSegHeader(b []byte, first uint64) string {
	if len(b) < segHeaderLen {
		return fmt.Sprintf("segment shorter than its header (%d bytes)", len(b))
	}
	switch {
	case string(b[:4]) != segMagic:
		return fmt.Sprintf("bad magic %q", b[:4])
	case binary.LittleEndian.Uint16(b[4:]) != formatVersion:
		return fmt.Sprintf("unknown format version %d", binary.LittleEndian.Uint16(b[4:]))
	case binary.LittleEndian.Uint16(b[6:]) != segHeaderLen:
		return fmt.Sprintf("bad header length %d", binary.LittleEndian.Uint16(b[6:]))
	case binary.LittleEndian.Uint32(b[24:]) != crc(b[:24]):
		return "header crc mismatch"
	case binary.LittleEndian.Uint64(b[8:]) != first:
		return fmt.Sprintf("header says first sequence %d, name says %d", binary.LittleEndian.Uint64(b[8:]), first)
	}
	return ""
}

// head is the fixed part of a record: its frame and the start of its body.
type head struct {
	bodyLen  uint32
	crc      uint32
	first    uint64
	count    uint32
	appended int64
}

func parseHead(b []byte) head {
	return head{
		bodyLen:  binary.LittleEndian.Uint32(b[0:]),
		crc:      binary.LittleEndian.Uint32(b[4:]),
		first:    binary.LittleEndian.Uint64(b[8:]),
		count:    binary.LittleEndian.Uint32(b[16:]),
		appended: int64(binary.LittleEndian.Uint64(b[20:])),
	}
}

// size is the record's length on disk.
func (h head) size() int64 { return frameLen + int64(h.bodyLen) }

// last is the sequence number of the record's last event.
func (h head) last() uint64 { return h.first + uint64(h.count) - 1 }

// check says what is wrong with a record head found at a place where room
// bytes remain and the record should start at sequence want ("" if
// nothing). A seal (count 0) passes when its length is right.
func (h head) check(want uint64, room int64) string {
	switch {
	case h.bodyLen < bodyFixed || h.bodyLen > maxBodyLen:
		return fmt.Sprintf("bad record length %d", h.bodyLen)
	case h.size() > room:
		return fmt.Sprintf("record of %d bytes runs past the end (%d bytes left)", h.size(), room)
	case h.first != want:
		return fmt.Sprintf("record starts at sequence %d, want %d", h.first, want)
	case h.count == 0 && h.bodyLen != bodyFixed+sealPayload:
		return fmt.Sprintf("bad seal length %d", h.bodyLen)
	case h.count > maxCount:
		return fmt.Sprintf("bad event count %d", h.count)
	}
	return ""
}

// putHead fills in the frame and fixed body of rec, whose payload is
// already at rec[headLen:], and its crc.
func putHead(rec []byte, first uint64, count uint32, appended int64) {
	binary.LittleEndian.PutUint32(rec[0:], uint32(len(rec)-frameLen))
	binary.LittleEndian.PutUint64(rec[8:], first)
	binary.LittleEndian.PutUint32(rec[16:], count)
	binary.LittleEndian.PutUint64(rec[20:], uint64(appended))
	binary.LittleEndian.PutUint32(rec[4:], crc(rec[frameLen:]))
}

// checkCRC says whether a whole record's crc matches its body.
func checkCRC(rec []byte) bool {
	return binary.LittleEndian.Uint32(rec[4:]) == crc(rec[frameLen:])
}

// appendSeal appends a seal: the record that closes a segment. Its first
// seq is where this segment's records end; next is where the following
// segment starts (more than first when the rest was quarantined); records
// is how many records the segment holds.
func appendSeal(dst []byte, first, next uint64, records uint32, at int64) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, headLen)...)
	dst = binary.LittleEndian.AppendUint64(dst, next)
	dst = binary.LittleEndian.AppendUint32(dst, records)
	putHead(dst[start:], first, 0, at)
	return dst
}

// seal is a parsed seal record.
type seal struct {
	first, next uint64
	records     int
}

// parseSeal reads a whole seal record; ok is false when b is not one.
func parseSeal(b []byte) (seal, bool) {
	if len(b) != sealLen {
		return seal{}, false
	}
	h := parseHead(b)
	if h.bodyLen != bodyFixed+sealPayload || h.count != 0 || !checkCRC(b) || h.first >= maxSeq {
		return seal{}, false
	}
	sl := seal{first: h.first, next: binary.LittleEndian.Uint64(b[headLen:]), records: int(binary.LittleEndian.Uint32(b[headLen+8:]))}
	if sl.next < sl.first || sl.next >= maxSeq {
		return seal{}, false
	}
	return sl, true
}
