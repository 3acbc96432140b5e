// Command ferry-loadgen is the syslog load generator and loss checker of
// Ferry's ingest benchmark. One process sends numbered messages at a set rate;
// another receives them (from Ferry's forwarding output, or straight from the
// sender to measure the floor) and reports exactly which sequence numbers
// went missing or came twice. It is built to be cheap — sendmmsg/recvmmsg,
// optional UDP GSO, no per-message formatting or allocation — so that on a
// 2-core machine the generator is not what limits a receiver at
// 100k-900k messages/s.
//
// # Send
//
//	ferry-loadgen send --udp 127.0.0.1:5514 --rate 100000 --duration 10s
//	ferry-loadgen send --tcp 127.0.0.1:5514 --octet-count --rate 0 --count 1000000
//
// Flags: --udp ADDR | --tcp ADDR, --rate N (messages/s over all senders, 0 = as
// fast as possible), --duration D, --count N (total messages; default
// rate*duration, or unbounded for --rate 0, which then runs for --duration),
// --size B (bytes per message, default 500), --batch N (messages per syscall,
// default 64), --gso (UDP: each sendmmsg entry is one UDP_SEGMENT
// super-datagram of up to 64 messages), --senders N (goroutines, each with its
// own socket and stream ID-K), --octet-count (TCP "LEN msg" framing instead of
// newline), --stream ID (default "s").
//
// Every message is the fixed RFC 5424 line
//
//	<134>1 2026-12-01T00:00:00.000Z loadgen ferry-loadgen - - - seq=0000000000 stream=ID abcd...
//
// padded to --size bytes; each stream numbers its messages from 0. Pacing is
// a token bucket checked once per batch. At the end send prints one JSON line:
//
//	{"sent":N,"seconds":S,"rate":R,"errors":E,"first_seq":0,"last_seq":N-1}
//
// with a "streams" object of the same fields per stream when --senders > 1.
// errors counts failed syscalls that were retried (e.g. ECONNREFUSED while
// nothing listens); a run that cannot continue exits 1.
//
// # Check
//
//	ferry-loadgen check --udp 127.0.0.1:6514 [--idle 2s] [--expect N]
//	ferry-loadgen check --tcp 127.0.0.1:6514
//	ferry-loadgen check --file out.log [more.log ...]
//	ferry-loadgen check --udp 127.0.0.1:6514 --count-only
//
// The checker waits for the first message, then stops once input has been
// idle for --idle (files: at their end; any mode: SIGINT/SIGTERM). It finds
// "seq=NNNNNNNNNN stream=ID" in each message (UDP datagram, TCP frame with
// newline or octet-count framing detected per connection, or file line) and
// keeps a bitmap per stream, then prints:
//
//	{"received":N,"missing":M,"duplicates":D,"unparsed":U,"max_seq":X,
//	 "streams":{"s":{"received":..,"unique":..,"missing":..,"duplicates":..,
//	 "max_seq":..,"missing_ranges":["10-12",..]}},"seconds":S,"rate":R,
//	 "rcvbuf":B,"drops":K}
//
// missing counts gaps below each stream's max_seq; a lost tail shows only with
// --expect (the total of distinct messages expected over all streams). For UDP
// the socket asks for a 64 MiB receive buffer (SO_RCVBUFFORCE as root, else
// SO_RCVBUF capped by net.core.rmem_max; "rcvbuf" is what was granted) and
// "drops" is the kernel's drop counter for the socket from /proc/net/udp.
// --count-only skips parsing and reports {"received","bytes","seconds","rate",
// "rcvbuf","drops","count_only":true}: the bare recvmmsg receiver, the floor
// against which Ferry's ingest is measured.
//
// # Benchmark use
//
// Floor: run `check --udp 127.0.0.1:6514 --count-only`, then `send --udp
// 127.0.0.1:6514 --rate R --duration 10s`; sent minus received (and drops)
// is what the kernel and a bare receiver lose at R. Ferry: point the sender at
// Ferry's syslog input and the checker at its forwarding output (UDP/TCP) or
// at its file output after the run; missing and duplicates are Ferry's loss
// and replay at that rate. Pin the two with taskset if they compete with Ferry.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ferry-loadgen:", err)
		cancel()
		os.Exit(1)
	}
}

const usage = "usage: ferry-loadgen send --udp|--tcp ADDR [flags] | check --udp|--tcp ADDR | --file PATH... [flags]"

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "send":
		cfg, err := parseSend(args[1:], stderr)
		if err != nil {
			return err
		}
		res, err := runSend(ctx, cfg)
		if err != nil && res.Seconds == 0 {
			return err // refused before sending: there is no result to print
		}
		if jerr := printJSON(stdout, res); jerr != nil {
			return jerr
		}
		return err
	case "check":
		cfg, err := parseCheck(args[1:], stderr)
		if err != nil {
			return err
		}
		srv, err := listenCheck(cfg)
		if err != nil {
			return err
		}
		if a := srv.addr(); a != "" {
			fmt.Fprintf(stderr, "ferry-loadgen: checking %s %s (rcvbuf %d)\n", cfg.network, a, srv.rcvbuf)
		}
		rep, err := srv.run(ctx)
		if jerr := printJSON(stdout, rep); jerr != nil {
			return jerr
		}
		return err
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q; %s", args[0], usage)
}

func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// target resolves the --udp/--tcp pair: exactly one must be set.
func target(udp, tcp string) (network, addr string, err error) {
	switch {
	case udp != "" && tcp != "":
		return "", "", errors.New("give --udp or --tcp, not both")
	case udp != "":
		return "udp", udp, nil
	case tcp != "":
		return "tcp", tcp, nil
	}
	return "", "", nil
}

func parseSend(args []string, stderr io.Writer) (sendConfig, error) {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	udp := fs.String("udp", "", "send UDP datagrams to `ADDR`")
	tcp := fs.String("tcp", "", "send over one TCP connection per sender to `ADDR`")
	cfg := sendConfig{}
	fs.Float64Var(&cfg.rate, "rate", 100000, "messages per second over all senders; 0: as fast as possible")
	fs.DurationVar(&cfg.dur, "duration", 10*time.Second, "run time when --count is not fixed")
	fs.Uint64Var(&cfg.count, "count", 0, "total messages (default rate*duration)")
	fs.IntVar(&cfg.size, "size", 500, "bytes per message, framing excluded")
	fs.IntVar(&cfg.batch, "batch", 64, "messages per syscall")
	fs.BoolVar(&cfg.gso, "gso", false, "UDP generic segmentation offload (UDP_SEGMENT)")
	fs.IntVar(&cfg.senders, "senders", 1, "sending goroutines, each with its own socket and stream")
	fs.BoolVar(&cfg.octet, "octet-count", false, "TCP: RFC 6587 octet-counting framing instead of newline")
	fs.StringVar(&cfg.stream, "stream", "s", "stream id (ID-K per sender when --senders > 1)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("send: unexpected arguments %q", fs.Args())
	}
	var err error
	if cfg.network, cfg.addr, err = target(*udp, *tcp); err != nil {
		return cfg, err
	}
	if cfg.network == "" {
		return cfg, errors.New("send: give --udp ADDR or --tcp ADDR")
	}
	if cfg.rate < 0 {
		return cfg, errors.New("send: --rate must not be negative")
	}
	if cfg.octet && cfg.network != "tcp" {
		return cfg, errors.New("send: --octet-count is for --tcp")
	}
	return cfg, nil
}

// fileList collects repeated --file flags.
type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

func parseCheck(args []string, stderr io.Writer) (checkConfig, error) {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	udp := fs.String("udp", "", "receive UDP datagrams on `ADDR`")
	tcp := fs.String("tcp", "", "accept TCP connections on `ADDR`")
	var files fileList
	fs.Var(&files, "file", "read `PATH` line by line (repeatable; more paths may follow the flags)")
	cfg := checkConfig{}
	fs.Uint64Var(&cfg.expect, "expect", 0, "distinct messages expected over all streams (reveals a lost tail)")
	fs.DurationVar(&cfg.idle, "idle", 2*time.Second, "stop after this long without input, once input has started")
	fs.BoolVar(&cfg.countOnly, "count-only", false, "count messages without parsing: the bare receiver floor")
	fs.IntVar(&cfg.batch, "batch", 64, "datagrams per recvmmsg")
	fs.IntVar(&cfg.rcvbuf, "rcvbuf", 64<<20, "UDP receive buffer to ask for, bytes")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	cfg.files = append(files, fs.Args()...)
	var err error
	if cfg.network, cfg.addr, err = target(*udp, *tcp); err != nil {
		return cfg, err
	}
	switch {
	case cfg.network == "" && len(cfg.files) == 0:
		return cfg, errors.New("check: give --udp ADDR, --tcp ADDR or --file PATH")
	case cfg.network != "" && len(cfg.files) > 0:
		return cfg, errors.New("check: files and a listener exclude each other")
	case cfg.idle <= 0 || cfg.batch < 1:
		return cfg, errors.New("check: --idle and --batch must be positive")
	}
	return cfg, nil
}
