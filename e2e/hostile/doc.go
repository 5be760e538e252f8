// Package hostile attacks the real vitals binary as an unauthenticated
// (or merely ingest-holding) client would, over raw TCP where framing
// matters, on SQLite and on PostgreSQL: every finding of the hardening
// issue, compression bombs on every route, smuggling shapes, malformed and
// oversized headers, a parallel sign-in burst and a table of bad input.
// Each case checks the answer, that the store is unchanged, and the
// server's peak memory (VmHWM) and CPU time from /proc. Its tests are the
// package; it has no code of its own.
package hostile
