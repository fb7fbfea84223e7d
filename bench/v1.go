package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// The parley.v1 requests the bench makes while setting a connection up,
// before its read loop starts: these read the connection synchronously,
// under a deadline.

// setupTimeout bounds each setup exchange (welcome, join).
const setupTimeout = 15 * time.Second

// welcome is the first frame of a parley.v1 connection.
type welcome struct {
	User struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"user"`
	Token      string  `json:"token"`
	HeartbeatS float64 `json:"heartbeat_s"`
	Limits     struct {
		MaxText  int     `json:"max_text"`
		MaxFrame int     `json:"max_frame"`
		Rate     float64 `json:"rate"`
		Burst    int     `json:"burst"`
	} `json:"limits"`
}

// serverError is an error frame.
type serverError struct {
	Code, Message string
}

func (e *serverError) Error() string { return e.Code + ": " + e.Message }

func frameError(f *Frame) *serverError {
	code, _ := f.Str(fCode)
	msg, _ := f.Str(fMessage)
	return &serverError{Code: string(code), Message: string(msg)}
}

// readWelcome reads the welcome frame.
func readWelcome(c *conn) (welcome, error) {
	var w welcome
	c.nc.SetReadDeadline(time.Now().Add(setupTimeout))
	defer c.nc.SetReadDeadline(time.Time{})
	data, err := c.next()
	if err != nil {
		return w, fmt.Errorf("waiting for the welcome frame: %w", err)
	}
	f, ok := ScanFrame(data)
	if !ok || !f.Is(fType, "welcome") {
		return w, fmt.Errorf("the first frame is not a parley.v1 welcome: %.120q", data)
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return w, fmt.Errorf("reading the welcome frame: %w", err)
	}
	return w, nil
}

// noSince joins without since (the server replays the recent tail).
const noSince = -1

// noReplay is a since past any head: the join replays nothing.
const noReplay = 1 << 53

// joinRoom joins room and returns its head. Message frames that arrive
// before the joined frame go to onMessage when it is not nil.
func joinRoom(c *conn, room string, since int64, onMessage func([]byte)) (int64, error) {
	req := []byte(`{"type":"join","id":"j","room":` + strconv.Quote(room))
	if since >= 0 {
		req = strconv.AppendInt(append(req, `,"since":`...), since, 10)
	}
	req = append(req, '}')
	if err := c.writeText(req); err != nil {
		return 0, fmt.Errorf("joining %s: %w", room, err)
	}
	var head int64
	err := await(c, func(f *Frame, data []byte) (bool, error) {
		switch {
		case f.Is(fType, "joined") && f.Is(fID, "j"):
			head, _ = f.Int(fHead)
			return true, nil
		case f.Is(fType, "error"):
			return false, frameError(f)
		case f.Is(fType, "message") && onMessage != nil:
			onMessage(data)
		}
		return false, nil
	})
	if err != nil {
		return 0, fmt.Errorf("joining %s: %w", room, err)
	}
	return head, nil
}

// await reads frames until match reports done or fails.
func await(c *conn, match func(f *Frame, data []byte) (bool, error)) error {
	c.nc.SetReadDeadline(time.Now().Add(setupTimeout))
	defer c.nc.SetReadDeadline(time.Time{})
	for range 1 << 20 { // a bound, not a limit any server reaches
		data, err := c.next()
		if err != nil {
			if isTimeout(err) {
				return fmt.Errorf("no answer within %s", setupTimeout)
			}
			return err
		}
		f, _ := ScanFrame(data)
		done, err := match(&f, data)
		if done || err != nil {
			return err
		}
	}
	return errors.New("no answer among a million frames")
}

// appendSend appends a send request.
func appendSend(b []byte, id, room string, text, nonce []byte) []byte {
	b = append(b, `{"type":"send"`...)
	if id != "" {
		b = append(b, `,"id":"`...)
		b = append(b, id...)
		b = append(b, '"')
	}
	b = append(b, `,"room":"`...)
	b = append(b, room...)
	b = append(b, `","text":"`...)
	b = append(b, text...) // stamps and padding need no escaping
	b = append(b, `","nonce":"`...)
	b = append(b, nonce...)
	return append(b, `"}`...)
}

// client is a set-up connection: dialled, welcomed (parley.v1) and in its
// room.
type client struct {
	*conn
	welcome welcome
	head    int64
}

// openClient dials connection i as a guest called name (or, with token,
// as that guest again), reads the welcome and joins room (parley.v1; room
// "" joins nothing). Text-mode connections are just dialled.
func openClient(ctx context.Context, e *env, i int, name, token, room string, since int64, readBuf int, onMessage func([]byte)) (*client, error) {
	q := url.Values{}
	if token != "" {
		q.Set("token", token)
	} else if name != "" {
		q.Set("name", name)
	}
	c, err := e.dial.dial(ctx, i, q, readBuf)
	if err != nil {
		return nil, err
	}
	cl := &client{conn: c}
	if !e.v1() {
		return cl, nil
	}
	if cl.welcome, err = readWelcome(c); err != nil {
		c.drop()
		return nil, fmt.Errorf("%s: %w", e.target.display, err)
	}
	if room != "" {
		if cl.head, err = joinRoom(c, room, since, onMessage); err != nil {
			c.drop()
			return nil, fmt.Errorf("%s: %w", e.target.display, err)
		}
	}
	return cl, nil
}
