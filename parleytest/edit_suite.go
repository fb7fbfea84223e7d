package parleytest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parleychat/parley"
)

// The MessageEditor part of StoreSuite.

func testMessageGet(t *testing.T, s fullStore) {
	ctx := context.Background()
	first := mustAppend(t, s, parley.Message{Room: "g", From: alice, Text: "one", Nonce: "n"})
	mustAppend(t, s, parley.Message{Room: "g", From: bob, Text: "two"})
	got, err := s.Message(ctx, "g", 1)
	if err != nil {
		t.Fatalf("Message(g, 1): %v", err)
	}
	sameMessage(t, got, first)
	for _, tc := range []struct {
		room string
		seq  parley.Seq
	}{{"g", 3}, {"g", 0}, {"g", -1}, {"nosuchroom", 1}} {
		_, err := s.Message(ctx, tc.room, tc.seq)
		wantCode(t, fmt.Sprintf("Message(%s, %d)", tc.room, tc.seq), err, parley.ENOTFOUND)
	}
}

func testEditMessage(t *testing.T, s fullStore) {
	ctx := context.Background()
	mustAppend(t, s, parley.Message{Room: "e", From: alice, Text: "one"})
	orig := mustAppend(t, s, parley.Message{Room: "e", From: bob, Text: "two", Nonce: "n2"})
	mustAppend(t, s, parley.Message{Room: "e", From: alice, Text: "three"})

	before := time.Now()
	edited, err := s.EditMessage(ctx, "e", 2, "two, edited ✓")
	after := time.Now()
	if err != nil {
		t.Fatalf("EditMessage: %v", err)
	}
	wantStamp(t, "EditMessage: EditedAt", edited.EditedAt, before, after)
	want := orig
	want.Text, want.EditedAt = "two, edited ✓", edited.EditedAt
	sameMessage(t, edited, want) // seq, sender, TS and nonce are kept

	// Every read sees the edit.
	if got, err := s.Message(ctx, "e", 2); err != nil {
		t.Errorf("Message after edit: %v", err)
	} else {
		sameMessage(t, got, want)
	}
	msgs := mustMessages(t, s, "e", 0, 10, 10)
	wantSeqs(t, msgs, 1, 3)
	sameMessage(t, msgs[1], want)
	if !msgs[0].EditedAt.IsZero() || !msgs[2].EditedAt.IsZero() {
		t.Errorf("unedited messages have EditedAt %v, %v; want zero", msgs[0].EditedAt, msgs[2].EditedAt)
	}
	hist, _, err := s.History(ctx, "e", 0, 10)
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	wantSeqs(t, hist, 1, 3)
	sameMessage(t, hist[1], want)
	// A retried send of the original gets the message as it is now.
	dup, isDup, err := s.Append(ctx, parley.Message{Room: "e", From: bob, Text: "two", Nonce: "n2"})
	if err != nil || !isDup {
		t.Fatalf("retried Append: dup %v, err %v; want dup true", isDup, err)
	}
	sameMessage(t, dup, want)

	// A second edit replaces the first; edits don't move the head.
	again, err := s.EditMessage(ctx, "e", 2, "")
	if err != nil || again.Text != "" || again.EditedAt.Before(edited.EditedAt) || again.Deleted {
		t.Errorf("second edit: %+v, %v; want empty text, a later EditedAt, not deleted", again, err)
	}
	wantHead(t, s, "e", 3)
	if m := mustAppend(t, s, parley.Message{Room: "e", From: alice, Text: "four"}); m.Seq != 4 {
		t.Errorf("Append after edits: seq %d, want 4", m.Seq)
	}

	for _, tc := range []struct {
		room string
		seq  parley.Seq
	}{{"e", 5}, {"e", 0}, {"nosuchroom", 1}} {
		_, err := s.EditMessage(ctx, tc.room, tc.seq, "x")
		wantCode(t, fmt.Sprintf("EditMessage(%s, %d)", tc.room, tc.seq), err, parley.ENOTFOUND)
	}
}

func testDeleteMessage(t *testing.T, s fullStore) {
	ctx := context.Background()
	mustAppend(t, s, parley.Message{Room: "d", From: alice, Text: "one"})
	orig := mustAppend(t, s, parley.Message{Room: "d", From: bob, Text: "two", Nonce: "n2"})
	mustAppend(t, s, parley.Message{Room: "d", From: alice, Text: "three"})

	deleted, err := s.DeleteMessage(ctx, "d", 2)
	if err != nil {
		t.Fatalf("DeleteMessage: %v", err)
	}
	want := orig
	want.Text, want.Deleted = "", true
	sameMessage(t, deleted, want) // seq, sender, TS and nonce are kept

	// Deleting again is not an error and changes nothing.
	if again, err := s.DeleteMessage(ctx, "d", 2); err != nil {
		t.Errorf("second DeleteMessage: %v", err)
	} else {
		sameMessage(t, again, want)
	}
	// A deleted message can't be edited.
	_, err = s.EditMessage(ctx, "d", 2, "back")
	wantCode(t, "EditMessage of a deleted message", err, parley.ENOTFOUND)

	// Reads keep the seq, with no text.
	if got, err := s.Message(ctx, "d", 2); err != nil {
		t.Errorf("Message after delete: %v", err)
	} else {
		sameMessage(t, got, want)
	}
	msgs := mustMessages(t, s, "d", 0, 10, 10)
	wantSeqs(t, msgs, 1, 3)
	sameMessage(t, msgs[1], want)
	if msgs[0].Deleted || msgs[2].Deleted || msgs[0].Text != "one" || msgs[2].Text != "three" {
		t.Errorf("neighbours of the deleted message: %+v, %+v", msgs[0], msgs[2])
	}
	hist, more, err := s.History(ctx, "d", 3, 1)
	if err != nil || !more || len(hist) != 1 {
		t.Fatalf("History(before 3, limit 1): %d messages, more %v, err %v", len(hist), more, err)
	}
	sameMessage(t, hist[0], want)
	dup, isDup, err := s.Append(ctx, parley.Message{Room: "d", From: bob, Text: "two", Nonce: "n2"})
	if err != nil || !isDup {
		t.Fatalf("retried Append of a deleted message: dup %v, err %v; want dup true", isDup, err)
	}
	sameMessage(t, dup, want)

	wantHead(t, s, "d", 3)
	if m := mustAppend(t, s, parley.Message{Room: "d", From: alice, Text: "four"}); m.Seq != 4 {
		t.Errorf("Append after delete: seq %d, want 4", m.Seq)
	}

	// An edited message, once deleted, is deleted.
	if _, err := s.EditMessage(ctx, "d", 1, "one, edited"); err != nil {
		t.Fatalf("EditMessage: %v", err)
	}
	if m, err := s.DeleteMessage(ctx, "d", 1); err != nil || !m.Deleted || m.Text != "" {
		t.Errorf("DeleteMessage of an edited message: %+v, %v; want deleted, no text", m, err)
	}

	for _, tc := range []struct {
		room string
		seq  parley.Seq
	}{{"d", 5}, {"d", 0}, {"nosuchroom", 1}} {
		_, err := s.DeleteMessage(ctx, tc.room, tc.seq)
		wantCode(t, fmt.Sprintf("DeleteMessage(%s, %d)", tc.room, tc.seq), err, parley.ENOTFOUND)
	}
}
