package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/parleychat/parley"
)

// errClosed answers requests made after, or still waiting at, Close.
var errClosed = parley.Errorf(parley.EUNAVAILABLE, "The server is shutting down; try again shortly.")

// errUnavailable is joined to errors that say the database can't be
// reached or can't serve right now, which callers should report as
// EUNAVAILABLE (the client may retry) rather than as a bug.
var errUnavailable = parley.Errorf(parley.EUNAVAILABLE, "The database is unavailable; try again later.")

// classify adds errUnavailable to err's chain when err is one of those
// errors, keeping err for the logs.
func classify(err error) error {
	if err == nil || parley.ErrorCode(err) != parley.EINTERNAL || !isUnavailable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", errUnavailable, err)
}

func isUnavailable(err error) bool {
	if connLost(err) || errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return true
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch {
	case strings.HasPrefix(pe.Code, "53"): // insufficient resources: too many connections, disk full
		return true
	case strings.HasPrefix(pe.Code, "57"): // operator intervention: shutdown, startup, statement timeout
		return true
	}
	switch pe.Code {
	case "40001", "40P01": // serialization failure, deadlock: worth a retry
		return true
	case "55P03": // lock not available (lock_timeout)
		return true
	case "25006": // read-only transaction: a standby, mid-failover
		return true
	}
	return false
}

// connLost reports whether err says the connection to the server failed
// or could not be made, as opposed to a statement failing on a good one.
func connLost(err error) bool {
	// A context ending mid-query also surfaces as a network timeout, but
	// the connection is fine (pgx closes it if it isn't).
	if pgconn.Timeout(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ce *pgconn.ConnectError
	var ne *net.OpError // not net.Error: context.DeadlineExceeded is one
	if errors.As(err, &ce) || errors.As(err, &ne) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || pgconn.SafeToRetry(err) {
		return true
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) &&
		(strings.HasPrefix(pe.Code, "08") || // connection exception
			pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03") // admin/crash shutdown, cannot connect now
}
