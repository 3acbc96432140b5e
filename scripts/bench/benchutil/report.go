package benchutil

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
)

// Logf writes one progress line to stderr, indented under the bench's
// "== ..." headings.
func Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "  %s\n", fmt.Sprintf(format, args...))
}

// FmtPtr formats *v with prec decimals, or "-" if v is nil (a figure that
// could not be had).
func FmtPtr(v *float64, prec int) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'f', prec, 64)
}

// SenderWarnings says what makes a run's load doubtful: a sender that fell
// short of the target rate by more than 2 %, or that had errors.
func SenderWarnings(sendRate, targetRate float64, senderErrors uint64) []string {
	var w []string
	if sendRate < 0.98*targetRate {
		w = append(w, fmt.Sprintf("the sender reached only %.0f/s of %.0f/s", sendRate, targetRate))
	}
	if senderErrors > 0 {
		w = append(w, fmt.Sprintf("%d sender errors", senderErrors))
	}
	return w
}

// PrintEnd ends a bench's report: a WARNING line per warning, a FAILED line
// per failure, the elapsed time and the heading of the JSON summary, which
// WriteJSON prints next.
func PrintEnd(warnings []string, failures map[string]string, elapsedSeconds float64) {
	for _, w := range warnings {
		fmt.Println("WARNING:", w)
	}
	for n, e := range failures {
		fmt.Printf("FAILED %s: %s\n", n, e)
	}
	fmt.Printf("\nElapsed %.0f s.\n\nJSON summary:\n", elapsedSeconds)
}

// WriteJSON prints v as one line of JSON to stdout and, if path is not "",
// writes that line to path too.
func WriteJSON(v any, path string) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	fmt.Printf("%s\n", raw)
	if path != "" {
		return os.WriteFile(path, append(raw, '\n'), 0o644)
	}
	return nil
}
