// Package metrics exposes Parley's counters in the Prometheus text format:
// the hub's connection and message counts, errors by code, slow-consumer
// closes, and the store's latency per operation (measured by wrapping the
// store). It owns its registry; nothing is registered globally.
package metrics
