package syslogmsg

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"
)

// ErrUnknownCharset is wrapped by NewDecoder for a charset it does not know.
var ErrUnknownCharset = errors.New("unknown charset")

// charsets maps a folded charset name (lower case, without '-' and '_') to
// its canonical name and encoding; a nil encoding is UTF-8.
var charsets = map[string]struct {
	name string
	enc  encoding.Encoding
}{
	"utf8":        {"UTF-8", nil},
	"euckr":       {"EUC-KR", korean.EUCKR},
	"cp949":       {"CP949", korean.EUCKR}, // x/text's EUC-KR is the CP949 (UHC) superset
	"uhc":         {"CP949", korean.EUCKR},
	"shiftjis":    {"Shift_JIS", japanese.ShiftJIS},
	"sjis":        {"Shift_JIS", japanese.ShiftJIS},
	"gb18030":     {"GB18030", simplifiedchinese.GB18030},
	"iso88591":    {"ISO-8859-1", charmap.ISO8859_1},
	"latin1":      {"ISO-8859-1", charmap.ISO8859_1},
	"windows1252": {"Windows-1252", charmap.Windows1252},
	"cp1252":      {"Windows-1252", charmap.Windows1252},
}

// KnownCharsets lists the canonical names, for error messages.
const KnownCharsets = "UTF-8, EUC-KR, CP949, Shift_JIS, GB18030, ISO-8859-1, Windows-1252"

// Decoder turns message text in a sender's charset into UTF-8, because a
// listener is configured per sender population (Korean network gear sends
// CP949) and everything downstream of the filter stage speaks UTF-8. It never
// fails: what cannot be decoded becomes U+FFFD and is counted. A Decoder
// keeps transform state, so it is not safe for concurrent use: make one per
// goroutine, they are cheap.
type Decoder struct {
	name string
	t    transform.Transformer // nil for UTF-8
}

// NewDecoder returns a Decoder for the charset called name, case-insensitive
// and with or without '-' and '_'; "" means UTF-8. Unknown names are refused
// with an error listing the known ones.
func NewDecoder(name string) (*Decoder, error) {
	key := strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(strings.TrimSpace(name)))
	if key == "" {
		key = "utf8"
	}
	cs, ok := charsets[key]
	if !ok {
		return nil, fmt.Errorf("syslogmsg: charset %q: %w (known: %s)", name, ErrUnknownCharset, KnownCharsets)
	}
	d := &Decoder{name: cs.name}
	if cs.enc != nil {
		d.t = cs.enc.NewDecoder()
	}
	return d, nil
}

// Name returns the canonical name of the Decoder's charset.
func (d *Decoder) Name() string { return d.name }

// Decode appends the UTF-8 form of src to dst and returns it with the number
// of invalid sequences it replaced with U+FFFD. It allocates only when dst
// lacks capacity. Pure ASCII, and valid UTF-8 for a UTF-8 Decoder, is copied
// as is. For the other charsets, replaced counts the U+FFFD in the output,
// so a GB18030 source that encodes U+FFFD itself counts it too.
func (d *Decoder) Decode(dst, src []byte) (out []byte, replaced int) {
	if d.t == nil {
		if utf8.Valid(src) {
			return append(dst, src...), 0
		}
		return decodeUTF8(dst, src)
	}
	if isASCII(src) {
		return append(dst, src...), 0
	}
	d.t.Reset()
	for len(src) > 0 {
		if cap(dst)-len(dst) < utf8.UTFMax {
			dst = slices.Grow(dst, 2*len(src)+utf8.UTFMax)
		}
		free := dst[len(dst):cap(dst)]
		nDst, nSrc, err := d.t.Transform(free, src, true)
		replaced += countReplacement(free[:nDst])
		dst, src = dst[:len(dst)+nDst], src[nSrc:]
		switch {
		case err == nil:
		case errors.Is(err, transform.ErrShortDst):
			dst = slices.Grow(dst, 2*len(src)+utf8.UTFMax)
		default:
			// Not expected with atEOF set; skip a byte so Decode still ends.
			if len(src) > 0 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
				replaced++
				src = src[1:]
			}
			d.t.Reset()
		}
	}
	return dst, replaced
}

// Convert is Decode for the hot path: src itself when it needs no change
// (valid UTF-8, or ASCII in another charset), else its UTF-8 form in
// *scratch, which grows as needed and is reused by the next call.
func (d *Decoder) Convert(scratch *[]byte, src []byte) (out []byte, replaced int) {
	if d.t == nil {
		if utf8.Valid(src) {
			return src, 0
		}
	} else if isASCII(src) {
		return src, 0
	}
	*scratch, replaced = d.Decode((*scratch)[:0], src)
	return *scratch, replaced
}

// UTF8 reports whether the Decoder's charset is UTF-8.
func (d *Decoder) UTF8() bool { return d.t == nil }

// decodeUTF8 appends src to dst replacing each invalid byte with U+FFFD.
func decodeUTF8(dst, src []byte) ([]byte, int) {
	replaced := 0
	for len(src) > 0 {
		r, n := utf8.DecodeRune(src)
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, "\uFFFD"...)
			replaced++
		} else {
			dst = append(dst, src[:n]...)
		}
		src = src[n:]
	}
	return dst, replaced
}

// isASCII reports whether b holds only 7-bit bytes, which every supported
// charset decodes to themselves.
func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// countReplacement counts U+FFFD in the UTF-8 text b.
func countReplacement(b []byte) int {
	n := 0
	for i := 0; i+2 < len(b); i++ {
		if b[i] == 0xEF && b[i+1] == 0xBF && b[i+2] == 0xBD {
			n++
			i += 2
		}
	}
	return n
}
