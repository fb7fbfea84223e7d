// Package auth decides who a connection is: it creates guests with the
// names they ask for (or free ones), and finds users again by their tokens.
// Tokens are random, at least 128 bits, and only their SHA-256 hashes are
// stored, so a copy of the database does not let anyone sign in.
//
// Everything here is safe for concurrent use.
package auth
