// Package faults holds the fault suite (issue 11): the real vitals binary,
// built from this tree, under kill -9, SIGTERM, PostgreSQL stopped, hung and
// down at start, Redis stopped and hung, a full SQLite volume and many
// concurrent writers. The PostgreSQL clusters (initdb), redis-servers, TCP
// proxies and tmpfs volumes are the tests' own, never the machine's shared
// services. Each case counts the events answered 2xx against the rows
// stored (none lost, none twice) and logs the figures it measured
// (`go test ./faults -v`).
package faults
