package main

import "bytes"

var (
	seqTag    = []byte("seq=")
	streamTag = []byte(streamKey)
)

// parseSeq finds "seq=NNNNNNNNNN stream=ID" in msg with plain byte scans (no
// regexp: the checker must keep up with the receiver it measures). The
// returned stream aliases msg.
func parseSeq(msg []byte) (seq uint64, stream []byte, ok bool) {
	i := bytes.Index(msg, seqTag)
	if i < 0 {
		return 0, nil, false
	}
	d := msg[i+len(seqTag):]
	if len(d) < seqDigits+len(streamTag) {
		return 0, nil, false
	}
	for _, c := range d[:seqDigits] {
		if c < '0' || c > '9' {
			return 0, nil, false
		}
		seq = seq*10 + uint64(c-'0')
	}
	d = d[seqDigits:]
	if !bytes.HasPrefix(d, streamTag) {
		return 0, nil, false
	}
	d = d[len(streamTag):]
	end := 0
	for end < len(d) && d[end] != ' ' && d[end] != '\n' && d[end] != '\r' {
		end++
	}
	if end == 0 {
		return 0, nil, false
	}
	return seq, d[:end], true
}
