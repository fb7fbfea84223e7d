// Package protocol is the parley.v1 wire contract: the client frames and
// their validation, the server frames and their encoding, the close codes,
// and text mode (the seed page's protocol). docs/protocol.md is its prose
// twin; change both together.
//
// Everything here is a pure function of its input and safe for concurrent
// use. Decode never panics on any input (it is fuzzed).
package protocol
