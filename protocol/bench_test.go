package protocol

import "testing"

// sendFrame is a send as the bench and the web client write one: a short
// id, a room, 100 bytes of text and a nonce.
var sendFrame = []byte(`{"type":"send","id":"s-123","room":"bench-17","text":"` +
	`aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa` +
	`","nonce":"b-17-123456"}`)

// BenchmarkDecodeSend is the read side of every durable send.
func BenchmarkDecodeSend(b *testing.B) {
	limits := Limits{MaxText: 1024, MaxFrame: MaxFrameFor(1024)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(sendFrame, limits); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeAck is the reply to every durable send.
func BenchmarkEncodeAck(b *testing.B) {
	ack := Ack{Type: TypeAck, ID: "s-123", Room: "bench-17", Seq: 123456, Nonce: "b-17-123456"}
	b.ReportAllocs()
	for b.Loop() {
		_ = Encode(ack)
	}
}
