package syslogmsg

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// got is one Frame or final error in a comparable, printable form.
type got struct {
	Msg       string
	Truncated bool
	Octet     bool
	ErrAt     int64 // offset of a FramingError, -1 without
}

func (g got) String() string {
	return fmt.Sprintf("{%q trunc=%v octet=%v errAt=%d}", g.Msg, g.Truncated, g.Octet, g.ErrAt)
}

// collect reads every frame from f until an error, which it returns; it
// checks the invariants every frame must hold.
func collect(t testing.TB, f *Framer, maxSize int) ([]got, error) {
	var out []got
	for i := 0; ; i++ {
		if i > 1<<20 {
			t.Fatal("framer did not end")
		}
		fr, err := f.Next()
		if err != nil {
			if fr.Msg != nil || fr.Err != nil {
				t.Fatalf("Next returned a frame %+v with error %v", fr, err)
			}
			return out, err
		}
		if len(fr.Msg) > maxSize {
			t.Fatalf("message of %d bytes exceeds maxSize %d", len(fr.Msg), maxSize)
		}
		g := got{Msg: string(fr.Msg), Truncated: fr.Truncated, Octet: fr.Octet, ErrAt: -1}
		if fr.Err != nil {
			var fe FramingError
			if !errors.As(fr.Err, &fe) {
				t.Fatalf("Frame.Err %v is not a FramingError", fr.Err)
			}
			if fr.Msg != nil {
				t.Fatalf("framing error %v came with a message %q", fr.Err, fr.Msg)
			}
			g.ErrAt = fe.Offset
		} else if len(fr.Msg) == 0 {
			t.Fatal("empty message returned")
		}
		out = append(out, g)
	}
}

func msg(s string) got       { return got{Msg: s, ErrAt: -1} }
func octet(s string) got     { return got{Msg: s, Octet: true, ErrAt: -1} }
func truncated(s string) got { return got{Msg: s, Truncated: true, ErrAt: -1} }
func framingAt(off int64) got {
	return got{Octet: true, ErrAt: off}
}

var framerCases = []struct {
	name    string
	in      string
	max     int
	want    []got
	wantErr error
}{
	{"newline terminators", "a\nb\r\nc\x00d", 0, []got{msg("a"), msg("b"), msg("c"), msg("d")}, io.EOF},
	{"only one CR stripped", "a\r\r\n", 0, []got{msg("a\r")}, io.EOF},
	{"octet counted", "5 hello3 abc", 0, []got{octet("hello"), octet("abc")}, io.EOF},
	{"octet keeps LF and CR inside", "4 a\nb\r", 0, []got{octet("a\nb\r")}, io.EOF},
	{"mixed per frame", "5 hello\n<13>x\n11 <13>1 - - -\n", 0, []got{octet("hello"), msg("<13>x"), octet("<13>1 - - -")}, io.EOF},
	{"empty lines skipped", "\n\r\n\x00a\n\n", 0, []got{msg("a")}, io.EOF},
	{"empty stream", "", 0, nil, io.EOF},
	{"newline exactly maxSize", "abcd\nxy\n", 4, []got{msg("abcd"), msg("xy")}, io.EOF},
	{"newline exactly maxSize with CR", "abcd\r\nxy\n", 4, []got{msg("abcd"), msg("xy")}, io.EOF},
	{"newline oversize", "abcdefgh\nxy\n", 4, []got{truncated("abcd"), msg("xy")}, io.EOF},
	{"newline oversize by one", "abcde\nxy\n", 4, []got{truncated("abcd"), msg("xy")}, io.EOF},
	{"newline oversize long", strings.Repeat("z", 100) + "\nxy", 4, []got{truncated("zzzz"), msg("xy")}, io.EOF},
	{"newline oversize at EOF", "abcdefgh", 4, []got{truncated("abcd")}, io.EOF},
	{"octet exactly maxSize", "4 abcd2 xy", 4, []got{octet("abcd"), octet("xy")}, io.EOF},
	{"octet oversize skips exactly the count", "8 abcdefgh3 xyz", 4, []got{{Msg: "abcd", Truncated: true, Octet: true, ErrAt: -1}, octet("xyz")}, io.EOF},
	{"octet oversize content has newlines", "8 ab\ncd\nef3 xyz", 4, []got{{Msg: "ab\nc", Truncated: true, Octet: true, ErrAt: -1}, octet("xyz")}, io.EOF},
	{"count not followed by space", "12a bad line\n<13>ok\n", 0, []got{framingAt(0), msg("<13>ok")}, io.EOF},
	{"count followed by newline", "abc\n123\nok\n", 0, []got{msg("abc"), framingAt(4), msg("ok")}, io.EOF},
	{"count of zero", "0 x\nok\n", 0, []got{framingAt(0), msg("ok")}, io.EOF},
	{"leading zero", "05 hello\nok\n", 0, []got{framingAt(0), msg("ok")}, io.EOF},
	{"count over bound", "3 abc99999999999 x\nok\n", 0, []got{octet("abc"), framingAt(5), msg("ok")}, io.EOF},
	{"framing error at EOF", "12a", 0, []got{framingAt(0)}, io.EOF},
	{"ISO date line is a framing error", "2024-01-02 x\nok\n", 0, []got{framingAt(0), msg("ok")}, io.EOF},
	{"octet cut by EOF", "10 abc", 0, nil, io.ErrUnexpectedEOF},
	{"count cut by EOF", "1 a12", 0, []got{octet("a")}, io.ErrUnexpectedEOF},
	{"truncated octet cut by EOF", "5 abc", 2, []got{{Msg: "ab", Truncated: true, Octet: true, ErrAt: -1}}, io.ErrUnexpectedEOF},
	{"octet followed by CRLF", "3 abc\r\n", 0, []got{octet("abc")}, io.EOF},
}

// readers wrap the input as a caller's reader may deliver it: whole, one
// byte at a time, half reads, and data returned together with io.EOF.
var readers = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"whole", func(r io.Reader) io.Reader { return r }},
	{"OneByte", iotest.OneByteReader},
	{"Half", iotest.HalfReader},
	{"DataErr", iotest.DataErrReader},
}

func TestFramer(t *testing.T) {
	for _, tc := range framerCases {
		for _, rd := range readers {
			t.Run(tc.name+"/"+rd.name, func(t *testing.T) {
				max := tc.max
				if max <= 0 {
					max = DefaultMaxSize
				}
				f := NewFramer(rd.wrap(strings.NewReader(tc.in)), tc.max)
				out, err := collect(t, f, max)
				if fmt.Sprint(out) != fmt.Sprint(tc.want) {
					t.Errorf("frames of %q\n got %v\nwant %v", tc.in, out, tc.want)
				}
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("final error %v, want %v", err, tc.wantErr)
				}
				if _, again := f.Next(); !errors.Is(again, tc.wantErr) {
					t.Errorf("error after the end %v, want %v again", again, tc.wantErr)
				}
			})
		}
	}
}

// TestFramerReaderError checks that a reader's error is returned, after the
// complete messages read before it.
func TestFramerReaderError(t *testing.T) {
	boom := errors.New("boom")
	f := NewFramer(io.MultiReader(strings.NewReader("a\nb"), iotest.ErrReader(boom)), 0)
	out, err := collect(t, f, DefaultMaxSize)
	if fmt.Sprint(out) != fmt.Sprint([]got{msg("a")}) || !errors.Is(err, boom) {
		t.Errorf("got %v, %v; want [a], boom", out, err)
	}
}

// TestFramerNoProgress checks that a reader returning nothing forever does
// not wedge the Framer.
func TestFramerNoProgress(t *testing.T) {
	f := NewFramer(emptyReader{}, 0)
	if _, err := f.Next(); !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("Next on an empty reader: %v, want io.ErrNoProgress", err)
	}
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

// TestFramerLong checks many mixed frames through a small buffer, so the
// buffer compacts mid-frame, against one-shot and one-byte readers.
func TestFramerLong(t *testing.T) {
	var in bytes.Buffer
	var want []got
	for i := range 500 {
		m := fmt.Sprintf("<13>1 - host app %d - - %s", i, strings.Repeat("x", i%97))
		switch i % 3 {
		case 0:
			fmt.Fprintf(&in, "%d %s", len(m), m)
			want = append(want, octet(m[:min(len(m), 64)]))
			if len(m) > 64 {
				want[len(want)-1].Truncated = true
			}
		case 1:
			in.WriteString(m + "\r\n")
			want = append(want, msg(m[:min(len(m), 64)]))
			if len(m) > 64 {
				want[len(want)-1].Truncated = true
			}
		default:
			in.WriteString(m + "\x00")
			want = append(want, msg(m[:min(len(m), 64)]))
			if len(m) > 64 {
				want[len(want)-1].Truncated = true
			}
		}
	}
	for _, rd := range readers {
		out, err := collect(t, NewFramer(rd.wrap(bytes.NewReader(in.Bytes())), 64), 64)
		if err != io.EOF || fmt.Sprint(out) != fmt.Sprint(want) {
			t.Errorf("%s: %d frames, err %v; want %d frames, EOF (first difference below)", rd.name, len(out), err, len(want))
			for i := range min(len(out), len(want)) {
				if out[i] != want[i] {
					t.Errorf("frame %d: got %v want %v", i, out[i], want[i])
					break
				}
			}
		}
	}
}

// cycleReader replays data forever without allocating.
type cycleReader struct {
	data []byte
	pos  int
}

func (c *cycleReader) Read(p []byte) (int, error) {
	n := copy(p, c.data[c.pos:])
	c.pos = (c.pos + n) % len(c.data)
	return n, nil
}

var framerStream = []byte("97 " + string(sample5424[:97]) + string(sample3164) + "\n" + "<13>Dec  1 23:50:29 vm app: hello world\r\n")

// TestFramerAllocs checks that Next allocates nothing in steady state.
func TestFramerAllocs(t *testing.T) {
	f := NewFramer(&cycleReader{data: framerStream}, 0)
	if n := testing.AllocsPerRun(1000, func() {
		if fr, err := f.Next(); err != nil || fr.Err != nil {
			t.Fatal(err, fr.Err)
		}
	}); n != 0 {
		t.Errorf("Next allocates %v times per message, want 0", n)
	}
}

func BenchmarkFramer(b *testing.B) {
	f := NewFramer(&cycleReader{data: framerStream}, 0)
	b.ReportAllocs()
	b.SetBytes(int64(len(framerStream)) / 3)
	for b.Loop() {
		if _, err := f.Next(); err != nil {
			b.Fatal(err)
		}
	}
}

func TestTrimDatagram(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"<13>x\n", "<13>x"},
		{"<13>x\r\n\x00", "<13>x"},
		{"<13>x", "<13>x"},
		{"<13>x\ny\n", "<13>x\ny"},
		{"\n\r\x00", ""},
		{"", ""},
	} {
		if got := string(TrimDatagram([]byte(tc.in))); got != tc.want {
			t.Errorf("TrimDatagram(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
