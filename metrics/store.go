package metrics

import (
	"context"
	"time"

	"github.com/parleychat/parley"
)

// InstrumentStore returns s with every call's latency recorded.
func (r *Registry) InstrumentStore(s parley.Store) parley.Store {
	return &timedStore{Store: s, hist: r}
}

type timedStore struct {
	parley.Store
	hist *Registry
}

var _ parley.Store = (*timedStore)(nil)

func (t *timedStore) observe(op string, start time.Time, err error) {
	outcome := "ok"
	if err != nil {
		outcome = parley.ErrorCode(err)
	}
	t.hist.storeLatency.WithLabelValues(op, outcome).Observe(time.Since(start).Seconds())
}

func (t *timedStore) Append(ctx context.Context, m parley.Message) (parley.Message, bool, error) {
	start := time.Now()
	stored, dup, err := t.Store.Append(ctx, m)
	t.observe("append", start, err)
	return stored, dup, err
}

func (t *timedStore) QueueAppend(ctx context.Context, m parley.Message, done func(parley.Message, bool, error)) {
	start := time.Now()
	t.Store.QueueAppend(ctx, m, func(stored parley.Message, dup bool, err error) {
		t.observe("append", start, err)
		done(stored, dup, err)
	})
}

func (t *timedStore) Messages(ctx context.Context, room string, after, until parley.Seq, limit int) ([]parley.Message, error) {
	start := time.Now()
	msgs, err := t.Store.Messages(ctx, room, after, until, limit)
	t.observe("messages", start, err)
	return msgs, err
}

func (t *timedStore) History(ctx context.Context, room string, before parley.Seq, limit int) ([]parley.Message, bool, error) {
	start := time.Now()
	msgs, more, err := t.Store.History(ctx, room, before, limit)
	t.observe("history", start, err)
	return msgs, more, err
}

func (t *timedStore) Head(ctx context.Context, room string) (parley.Seq, error) {
	start := time.Now()
	head, err := t.Store.Head(ctx, room)
	t.observe("head", start, err)
	return head, err
}

func (t *timedStore) CreateGuest(ctx context.Context, name string, tokenHash []byte) (parley.User, error) {
	start := time.Now()
	u, err := t.Store.CreateGuest(ctx, name, tokenHash)
	t.observe("create_guest", start, err)
	return u, err
}

func (t *timedStore) UserByTokenHash(ctx context.Context, tokenHash []byte) (parley.User, error) {
	start := time.Now()
	u, err := t.Store.UserByTokenHash(ctx, tokenHash)
	t.observe("user_by_token", start, err)
	return u, err
}
