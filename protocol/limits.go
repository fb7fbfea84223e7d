package protocol

// Subprotocol is the WebSocket subprotocol of the JSON protocol. A client
// that offers no subprotocol speaks text mode.
const Subprotocol = "parley.v1"

// History page sizes.
const (
	DefaultHistoryLimit = 50
	MaxHistoryLimit     = 200
)

// Close codes the server sends, beyond RFC 6455's.
const (
	CloseNormal          = 1000
	CloseGoingAway       = 1001 // the server is shutting down
	CloseProtocolError   = 1002 // malformed WebSocket framing
	CloseInvalidData     = 1007 // a text message that is not UTF-8, or a compressed one that is not deflate
	CloseUnsupportedData = 1003 // a binary message
	CloseTooBig          = 1009 // a message over Limits.MaxFrame bytes
	CloseInternal        = 1011
	CloseHeartbeat       = 4000 // nothing received for two heartbeat intervals
	CloseTokenExpired    = 4001 // the credential's lifetime ended
	CloseSlowConsumer    = 4008 // the outgoing queue overflowed
	CloseRateLimited     = 4029 // sustained sends over the rate limit
)

// Limits are what the server enforces on a connection; the welcome frame
// tells the client.
type Limits struct {
	MaxText  int     `json:"max_text"`  // characters (Unicode code points) per message
	MaxFrame int     `json:"max_frame"` // bytes per WebSocket message
	Rate     float64 `json:"rate"`      // sends per second, sustained
	Burst    int     `json:"burst"`     // sends allowed at once
}

// MaxFrameFor returns the frame size that fits a send of maxText characters
// of any script (4 bytes each in UTF-8, up to 12 escaped in JSON: encoders
// such as Python's json.dumps write a character beyond the BMP as a
// surrogate pair, \ud83d\ude00) plus the frame's other fields.
func MaxFrameFor(maxText int) int {
	return 12*maxText + 1024
}
