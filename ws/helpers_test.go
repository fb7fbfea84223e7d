package ws

import (
	"path/filepath"
	"testing"

	"github.com/parleychat/parley/hub"
	"github.com/parleychat/parley/sqlite"
)

// newTestHub returns a hub framing with Framer, on a fresh SQLite store
// closed when the test ends.
func newTestHub(tb testing.TB, opts hub.Options) *hub.Hub {
	tb.Helper()
	st, err := sqlite.Open(filepath.Join(tb.TempDir(), "db"), sqlite.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	opts.Framer = Framer{}
	return hub.New(st, opts)
}
