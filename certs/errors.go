package certs

import (
	"errors"
	"fmt"
)

// Keystore errors the shell turns into operator messages. Load and NeedsPassword
// return them inside an *Error that names the file, so errors.Is works on every
// failure that comes from the file's content or its absence.
var (
	// ErrWrongPassword is printed verbatim by the operators' guide.
	ErrWrongPassword = errors.New("keystore password was incorrect")
	ErrNotFound      = errors.New("keystore file not found")
	ErrWrongType     = errors.New("wrong keystore type")
	ErrCorrupt       = errors.New("keystore file is corrupt")
	ErrNoEntries     = errors.New("keystore lacks the entries needed")
	ErrUnsupported   = errors.New("keystore content is not supported")
)

// Error is a keystore failure: one of the sentinels above, the file it concerns
// and, for everything but a wrong password, a detail for the operator.
// Its text reads `keystore "/x/y.jks": keystore password was incorrect`.
type Error struct {
	Path   string
	Err    error // one of the sentinels
	Detail string
}

func (e *Error) Error() string {
	s := e.Err.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Path != "" {
		s = fmt.Sprintf("keystore %q: %s", e.Path, s)
	}
	return s
}

// Unwrap gives the sentinel.
func (e *Error) Unwrap() error { return e.Err }

// fail builds an *Error without a path; Load adds the path.
func fail(sentinel error, format string, args ...any) *Error {
	return &Error{Err: sentinel, Detail: fmt.Sprintf(format, args...)}
}

// withPath names the file in a keystore error and leaves other errors wrapped with it.
func withPath(path string, err error) error {
	var ke *Error
	if errors.As(err, &ke) {
		c := *ke
		c.Path = path
		return &c
	}
	return fmt.Errorf("keystore %q: %w", path, err)
}
