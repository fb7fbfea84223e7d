// Package parleytest holds test suites and helpers shared by the
// implementations of Parley's interfaces: StoreSuite runs the same checks
// against every parley.Store, so the SQLite and PostgreSQL stores behave
// alike. It is imported by tests only.
package parleytest
