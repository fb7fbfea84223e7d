package sqlite

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/parleychat/parley"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// errClosed answers requests made after, or still waiting at, Close.
var errClosed = parley.Errorf(parley.EUNAVAILABLE, "The server is shutting down; try again shortly.")

// errUnavailable is joined to errors that say the database itself is
// failing (locked, disk full, I/O), which callers should report as
// EUNAVAILABLE rather than as a bug.
var errUnavailable = parley.Errorf(parley.EUNAVAILABLE, "The database is unavailable; try again later.")

// classify adds errUnavailable to err's chain when err is one of SQLite's
// "the database can't do this right now" errors, keeping err for the logs.
func classify(err error) error {
	if err == nil || parley.ErrorCode(err) != parley.EINTERNAL || !isUnavailable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", errUnavailable, err)
}

func isUnavailable(err error) bool {
	if errors.Is(err, sql.ErrConnDone) || errors.Is(err, driver.ErrBadConn) {
		return true
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff { // primary code; the rest is the extended detail
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR,
		sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY,
		sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_PROTOCOL:
		return true
	}
	return false
}

// isNonceConflict reports whether err is an INSERT into messages meeting a
// nonce stored before: messages_nonce is that table's only UNIQUE index
// (its primary key's violations have a code of their own).
func isNonceConflict(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}
