package relay

import (
	"bytes"
	"testing"
)

// FuzzFrame feeds bytes to the frame reader and the dedup state decoder.
// Neither may panic; a frame that decodes encodes back to the same bytes.
func FuzzFrame(f *testing.F) {
	for _, fr := range []*frame{
		{typ: typeHello, version: Version, guid: "g-1", name: "edge"},
		{typ: typeWelcome, version: Version, guid: "core", name: "c"},
		{typ: typeBatch, stream: "abc/base", first: 7, count: 3, codec: CodecSpool, payload: []byte{0x28, 0xb5, 0x2f, 0xfd, 1, 2}},
		{typ: typeAck, stream: "abc/base", first: 7, last: 9},
		{typ: typeAck, stream: "abc/base", first: 7, last: 9, flags: ackDuplicate},
		{typ: typePing, nonce: 42},
		{typ: typePong, nonce: 42},
		{typ: typeError, msg: "unsupported"},
	} {
		f.Add(appendFrame(nil, fr))
	}
	f.Add(encodeState(&dedupState{gen: 3, high: map[string]uint64{"a/b": 9}, pending: []intent{{"a/b", 12, 40}}}))
	f.Add([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := newReader(bytes.NewReader(data))
		for {
			fr, err := r.next()
			if err != nil {
				break
			}
			raw := appendFrame(nil, fr)
			again, err := decodeFrame(raw[4:])
			if err != nil {
				t.Fatalf("a decoded frame re-encodes to one that does not decode: %v", err)
			}
			if !bytes.Equal(appendFrame(nil, again), raw) {
				t.Fatalf("frame of type %d changes across encode, decode", fr.typ)
			}
		}
		if st, err := decodeState(data); err == nil {
			if _, err := decodeState(encodeState(st)); err != nil {
				t.Fatalf("a decoded state re-encodes to one that does not decode: %v", err)
			}
		}
	})
}
