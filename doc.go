// Package parley holds Parley's domain: users, rooms, messages, the error
// type every layer speaks, and the interfaces that have more than one
// implementation (the stores). It imports nothing but the standard library;
// every adapter (sqlite, ws, httpapi, ...) depends on it, never the reverse.
package parley
