package syslogmsg

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
)

func mustEncode(t *testing.T, e encoding.Encoding, s string) []byte {
	t.Helper()
	b, err := e.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatalf("encoding %q: %v", s, err)
	}
	return b
}

// TestDecodeRoundTrip encodes text with x/text and checks that Decode gives
// it back, with nothing counted as replaced.
func TestDecodeRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		charset string
		enc     encoding.Encoding
		text    string
	}{
		{"EUC-KR", korean.EUCKR, "<13>Dec  1 23:50:29 fw01 kernel: 방화벽 정책이 변경되었습니다"},
		{"cp949", korean.EUCKR, "똠방각하 뷁"}, // CP949-only (UHC) syllables
		{"Shift_JIS", japanese.ShiftJIS, "ファイアウォールのポリシーが変更されました"},
		{"gb18030", simplifiedchinese.GB18030, "防火墙策略已更改 😀"},
		{"ISO-8859-1", charmap.ISO8859_1, "Grüße aus Köln"},
		{"windows-1252", charmap.Windows1252, "“quoted” – €5"},
		{"UTF-8", nil, "already UTF-8: 한국어"},
	} {
		t.Run(tc.charset, func(t *testing.T) {
			d, err := NewDecoder(tc.charset)
			if err != nil {
				t.Fatal(err)
			}
			src := []byte(tc.text)
			if tc.enc != nil {
				src = mustEncode(t, tc.enc, tc.text)
				if string(src) == tc.text {
					t.Fatal("encoding did not change the text: the test proves nothing")
				}
			}
			out, replaced := d.Decode([]byte("prefix:"), src)
			if string(out) != "prefix:"+tc.text || replaced != 0 {
				t.Errorf("Decode = %q, %d; want %q, 0", out, replaced, "prefix:"+tc.text)
			}
		})
	}
}

// TestDecodeInvalid checks that invalid sequences become U+FFFD and are
// counted, and that the output is valid UTF-8.
func TestDecodeInvalid(t *testing.T) {
	for _, tc := range []struct {
		charset  string
		src      string
		want     string
		replaced int
	}{
		{"utf-8", "ok \xff\xfe end", "ok \uFFFD\uFFFD end", 2},
		{"utf-8", "cut \xed\x95", "cut \uFFFD\uFFFD", 2},
		{"utf-8", "real \uFFFD is not counted \xff", "real \uFFFD is not counted \uFFFD", 1},
		{"EUC-KR", "a\xb0", "a\uFFFD", 1},           // lead byte cut by the end
		{"EUC-KR", "\xff\xffb", "\uFFFD\uFFFDb", 2}, // not a lead byte
		{"Shift_JIS", "x\x81", "x\uFFFD", 1},        // lead byte cut by the end
		{"GB18030", "\x81\x30", "\uFFFD0", 1},       // four-byte sequence cut short
		{"ISO-8859-1", "\xff", "ÿ", 0},              // every byte is valid
	} {
		d, err := NewDecoder(tc.charset)
		if err != nil {
			t.Fatal(err)
		}
		out, replaced := d.Decode(nil, []byte(tc.src))
		if string(out) != tc.want || replaced != tc.replaced || !utf8.Valid(out) {
			t.Errorf("%s Decode(%q) = %q, %d; want %q, %d", tc.charset, tc.src, out, replaced, tc.want, tc.replaced)
		}
	}
}

// TestDecodeGrows checks output much longer than dst's capacity.
func TestDecodeGrows(t *testing.T) {
	text := strings.Repeat("한글", 5000)
	d, _ := NewDecoder("EUC-KR")
	out, replaced := d.Decode(make([]byte, 0, 4), mustEncode(t, korean.EUCKR, text))
	if string(out) != text || replaced != 0 {
		t.Errorf("Decode of %d runes gave %d bytes, %d replaced", utf8.RuneCountInString(text), len(out), replaced)
	}
}

func TestNewDecoderNames(t *testing.T) {
	for name, want := range map[string]string{
		"": "UTF-8", "utf8": "UTF-8", "UTF-8": "UTF-8", "euc-kr": "EUC-KR", "EUC_KR": "EUC-KR",
		"CP949": "CP949", "sjis": "Shift_JIS", "SHIFT_JIS": "Shift_JIS", "Gb18030": "GB18030",
		"latin1": "ISO-8859-1", "iso-8859-1": "ISO-8859-1", "WINDOWS-1252": "Windows-1252", "cp1252": "Windows-1252",
	} {
		d, err := NewDecoder(name)
		if err != nil || d.Name() != want {
			t.Errorf("NewDecoder(%q) = %v, %v; want %s", name, d, err, want)
		}
	}
	_, err := NewDecoder("EBCDIC")
	if !errors.Is(err, ErrUnknownCharset) || !strings.Contains(err.Error(), "EUC-KR") || !strings.Contains(err.Error(), `"EBCDIC"`) {
		t.Errorf("NewDecoder(EBCDIC) error %v: want ErrUnknownCharset naming it and the known charsets", err)
	}
}

// TestDecodeAllocs checks the fast paths and a transforming decode allocate
// nothing when dst is large enough.
func TestDecodeAllocs(t *testing.T) {
	kr := mustEncode(t, korean.EUCKR, "방화벽 정책이 변경되었습니다")
	dst := make([]byte, 0, 1024)
	for _, tc := range []struct {
		charset string
		src     []byte
	}{
		{"UTF-8", sample5424},
		{"UTF-8", []byte("bad \xff byte")},
		{"EUC-KR", sample3164},
		{"EUC-KR", kr},
	} {
		d, _ := NewDecoder(tc.charset)
		if n := testing.AllocsPerRun(100, func() { dst, _ = d.Decode(dst[:0], tc.src) }); n != 0 {
			t.Errorf("%s Decode(%q) allocates %v times, want 0", tc.charset, tc.src, n)
		}
	}
}

func BenchmarkDecodeEUCKR(b *testing.B) {
	src, _ := korean.EUCKR.NewEncoder().Bytes([]byte("<13>Dec  1 23:50:29 fw01 kernel: 방화벽 정책이 변경되었습니다"))
	d, _ := NewDecoder("EUC-KR")
	dst := make([]byte, 0, 1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		dst, _ = d.Decode(dst[:0], src)
	}
}

// TestConvertPassesThrough checks Convert returns the input itself when no
// change is needed, and the decoded form in the scratch buffer otherwise.
func TestConvertPassesThrough(t *testing.T) {
	kr := mustEncode(t, korean.EUCKR, "방화벽")
	utf, _ := NewDecoder("")
	euc, _ := NewDecoder("EUC-KR")
	var scratch []byte
	for _, tc := range []struct {
		d        *Decoder
		src      []byte
		same     bool
		want     string
		replaced int
	}{
		{utf, []byte("plain ascii"), true, "plain ascii", 0},
		{utf, []byte("한국어"), true, "한국어", 0},
		{utf, []byte("bad \xff"), false, "bad \uFFFD", 1},
		{euc, []byte("plain ascii"), true, "plain ascii", 0},
		{euc, kr, false, "방화벽", 0},
		{euc, []byte("\xff\xff"), false, "\uFFFD\uFFFD", 2},
	} {
		out, replaced := tc.d.Convert(&scratch, tc.src)
		same := len(out) > 0 && &out[0] == &tc.src[0]
		if string(out) != tc.want || replaced != tc.replaced || same != tc.same {
			t.Errorf("%s Convert(%q) = %q, %d, same buffer %v; want %q, %d, %v", tc.d.Name(), tc.src, out, replaced, same, tc.want, tc.replaced, tc.same)
		}
	}
}
