package store

import "errors"

// Sentinels callers test with errors.Is; messages carry the record name around them.
var (
	ErrNotFound     = errors.New("not found")
	ErrExists       = errors.New("already exists")
	ErrLocked       = errors.New("confdb is locked by another process")
	ErrSchemaTooNew = errors.New("confdb schema too new")
	ErrCorrupt      = errors.New("confdb record is corrupt")
)
