package syslogmsg

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the expected fields of testdata/headers from Parse (review the diff!)")

// golden is one testdata/headers case: the input line and the expected
// fields, a null field standing for a nil slice.
type golden struct {
	Comment        string  `json:"comment,omitempty"`
	Input          string  `json:"input"`
	Format         string  `json:"format"`
	PRI            int     `json:"pri"`
	Facility       int     `json:"facility"`
	Severity       int     `json:"severity"`
	Timestamp      *string `json:"timestamp"`
	Hostname       *string `json:"hostname"`
	AppName        *string `json:"app_name"`
	ProcID         *string `json:"proc_id"`
	MsgID          *string `json:"msg_id"`
	StructuredData *string `json:"structured_data"`
	Message        *string `json:"message"`
}

func field(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

func toGolden(comment, input string, h Header) golden {
	return golden{
		Comment: comment, Input: input, Format: h.Format.String(),
		PRI: h.PRI, Facility: h.Facility, Severity: h.Severity,
		Timestamp: field(h.Timestamp), Hostname: field(h.Hostname), AppName: field(h.AppName),
		ProcID: field(h.ProcID), MsgID: field(h.MsgID), StructuredData: field(h.StructuredData),
		Message: field(h.Message),
	}
}

// TestParseGolden checks Parse against every case in testdata/headers, real
// samples (util-linux logger, network gear) and malformed lines.
func TestParseGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/headers/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("only %d golden cases in testdata/headers", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var want golden
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			input := []byte(want.Input)
			got := toGolden(want.Comment, want.Input, Parse(input))
			gotJSON, _ := json.MarshalIndent(got, "", "\t")
			gotJSON = append(gotJSON, '\n')
			if *update {
				if err := os.WriteFile(file, gotJSON, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			wantJSON, _ := json.MarshalIndent(want, "", "\t")
			wantJSON = append(wantJSON, '\n')
			if !bytes.Equal(gotJSON, wantJSON) {
				t.Errorf("Parse(%q)\n got %s\nwant %s", want.Input, gotJSON, wantJSON)
			}
		})
	}
}

// TestParseNoPRI checks the Unknown contract on inputs JSON cannot hold.
func TestParseNoPRI(t *testing.T) {
	for _, in := range [][]byte{nil, {}, []byte("\xff\xfe<13>"), []byte("<13"), []byte("<1a>x"), []byte("<192>x")} {
		h := Parse(in)
		if h.Format != Unknown || h.PRI != -1 || h.Facility != -1 || h.Severity != -1 || !bytes.Equal(h.Message, in) {
			t.Errorf("Parse(%q) = %+v, want Unknown with the whole input as Message", in, h)
		}
	}
}

// TestParseAllocs checks that Parse does not allocate for either format.
func TestParseAllocs(t *testing.T) {
	for _, in := range [][]byte{sample5424, sample3164} {
		if n := testing.AllocsPerRun(100, func() { _ = Parse(in) }); n != 0 {
			t.Errorf("Parse(%q) allocates %v times, want 0", in, n)
		}
	}
}

var (
	sample5424 = []byte(`<165>1 2026-12-01T23:50:29.456050+00:00 vm app 24271 - [timeQuality tzKnown="1" isSynced="0"][exampleSDID@32473 iut="3" eventSource="Application"] with sd`)
	sample3164 = []byte(`<38>Dec  1 23:50:29 vm sshd[24272]: Accepted publickey for root from 10.0.0.1 port 50522 ssh2`)
)

func BenchmarkParse5424(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(sample5424)))
	for b.Loop() {
		_ = Parse(sample5424)
	}
}

func BenchmarkParse3164(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(sample3164)))
	for b.Loop() {
		_ = Parse(sample3164)
	}
}
