package syslogmsg

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"
	"unicode/utf8"
	"unsafe"
)

// FuzzFramer checks that the Framer never panics or wedges, never returns a
// message over maxSize, and cuts the same frames whatever the read sizes.
func FuzzFramer(f *testing.F) {
	f.Add([]byte("5 hello<13>x\n12a bad\n"), uint8(0))
	f.Add([]byte("8 abcdefgh3 xyz"), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, size uint8) {
		maxSize := 1 + int(size%32)
		whole, errWhole := framesOf(t, NewFramer(bytes.NewReader(data), maxSize), maxSize, len(data))
		split, errSplit := framesOf(t, NewFramer(iotest.OneByteReader(bytes.NewReader(data)), maxSize), maxSize, len(data))
		if fmt.Sprint(whole) != fmt.Sprint(split) || !errors.Is(errSplit, errWhole) {
			t.Fatalf("read sizes change the frames of %q:\nwhole %v %v\nsplit %v %v", data, whole, errWhole, split, errSplit)
		}
		if errWhole != io.EOF && errWhole != io.ErrUnexpectedEOF {
			t.Fatalf("final error %v, want io.EOF or io.ErrUnexpectedEOF", errWhole)
		}
	})
}

// framesOf collects every frame, failing when one exceeds maxSize or when
// there are more frames than input bytes (each frame consumes at least one).
func framesOf(t *testing.T, f *Framer, maxSize, n int) ([]got, error) {
	var out []got
	for {
		fr, err := f.Next()
		if err != nil {
			return out, err
		}
		if len(fr.Msg) > maxSize {
			t.Fatalf("message of %d bytes exceeds maxSize %d", len(fr.Msg), maxSize)
		}
		if fr.Err == nil && len(fr.Msg) == 0 {
			t.Fatal("empty message without a framing error")
		}
		if len(out) > n {
			t.Fatalf("more frames than the %d input bytes", n)
		}
		out = append(out, got{Msg: string(fr.Msg), Truncated: fr.Truncated, Octet: fr.Octet, ErrAt: int64(btoi(fr.Err != nil))})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// within reports whether sub lies inside msg's bytes (nil always does).
func within(msg, sub []byte) bool {
	if sub == nil {
		return true
	}
	if len(sub) == 0 {
		return false // Parse reports absent fields as nil, not empty
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(msg)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(sub)))
	return p >= lo && p+uintptr(len(sub)) <= lo+uintptr(len(msg))
}

// FuzzParse checks that Parse never panics, that every field is a
// non-empty sub-slice of the input or nil, and that PRI decomposes.
func FuzzParse(f *testing.F) {
	f.Add(sample5424)
	f.Add(sample3164)
	f.Fuzz(func(t *testing.T, msg []byte) {
		h := Parse(msg)
		if h.Format == Unknown {
			if h.PRI != -1 || h.Facility != -1 || h.Severity != -1 || !bytes.Equal(h.Message, msg) {
				t.Fatalf("Unknown header %+v", h)
			}
			return
		}
		if h.PRI < 0 || h.PRI > 191 || h.Facility != h.PRI>>3 || h.Severity != h.PRI&7 {
			t.Fatalf("PRI %d facility %d severity %d", h.PRI, h.Facility, h.Severity)
		}
		for name, b := range map[string][]byte{
			"Timestamp": h.Timestamp, "Hostname": h.Hostname, "AppName": h.AppName, "ProcID": h.ProcID,
			"MsgID": h.MsgID, "StructuredData": h.StructuredData, "Message": h.Message,
		} {
			if !within(msg, b) {
				t.Fatalf("%s %q is not a non-empty sub-slice of %q", name, b, msg)
			}
		}
		if h.Format == RFC3164 && (h.MsgID != nil || h.StructuredData != nil) {
			t.Fatalf("RFC 3164 header with 5424 fields: %+v", h)
		}
	})
}

var fuzzCharsets = []string{"UTF-8", "EUC-KR", "CP949", "Shift_JIS", "GB18030", "ISO-8859-1", "Windows-1252"}

// FuzzDecode checks that Decode never panics, always yields valid UTF-8
// after dst's prefix, and copies valid UTF-8 through a UTF-8 Decoder.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("ok \xff"), uint8(0))
	f.Add([]byte("\xb9\xe6\xc8\xad\xba\xae"), uint8(1))
	f.Fuzz(func(t *testing.T, src []byte, which uint8) {
		name := fuzzCharsets[int(which)%len(fuzzCharsets)]
		d, err := NewDecoder(name)
		if err != nil {
			t.Fatal(err)
		}
		out, replaced := d.Decode([]byte("pre"), src)
		if !bytes.HasPrefix(out, []byte("pre")) || !utf8.Valid(out) || replaced < 0 {
			t.Fatalf("%s Decode(%q) = %q, %d", name, src, out, replaced)
		}
		if name == "UTF-8" && utf8.Valid(src) && (string(out[3:]) != string(src) || replaced != 0) {
			t.Fatalf("valid UTF-8 %q changed to %q, %d", src, out[3:], replaced)
		}
		if replaced == 0 && bytes.Contains(out, []byte("\uFFFD")) && name != "UTF-8" && name != "GB18030" {
			t.Fatalf("%s Decode(%q) = %q has U+FFFD but counted none", name, src, out)
		}
		again, replaced2 := d.Decode(nil, src)
		if string(again) != string(out[3:]) || replaced2 != replaced {
			t.Fatalf("%s Decode is not repeatable: %q, %d then %q, %d", name, out[3:], replaced, again, replaced2)
		}
	})
}
