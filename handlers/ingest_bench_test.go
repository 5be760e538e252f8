package handlers_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/postgres"
	"github.com/vitalsdev/vitals/storage/postgres/postgrestest"
	"github.com/vitalsdev/vitals/storage/sqlite"
	"github.com/vitalsdev/vitals/storage/sqlite/sqlitetest"
)

// BenchmarkIngest measures POST /api/v1/events over real loopback
// connections from 16 concurrent clients (about wrk -c10..16), on every
// backend: single events and batches of 100, with and without idempotency
// keys (the Go client always sends them), and with retention at the default
// keep (1000, pruning every 100 events) against a keep so large that it
// never prunes, whose difference is the cost of retention. events/s is the
// figure to read.
//
//	VITALS_TEST_DATABASE_URL=... go test -run '^$' -bench BenchmarkIngest -benchtime 3s ./handlers/
func BenchmarkIngest(b *testing.B) {
	type backendKeep struct {
		name string
		open func(testing.TB, int) storage.Store
	}
	backends := []backendKeep{{"sqlite", func(tb testing.TB, keep int) storage.Store {
		return sqlitetest.Open(tb, sqlite.Options{EventsKeep: keep})
	}}}
	for _, be := range benchBackends(b) {
		if be.name == "postgres" {
			backends = append(backends, backendKeep{"postgres", func(tb testing.TB, keep int) storage.Store {
				return postgrestest.Open(tb, postgres.Options{EventsKeep: keep})
			}})
		}
	}
	var seq atomic.Int64 // makes every idempotency key unique
	body := func(size int, keyed bool) []byte {
		var buf bytes.Buffer
		if size > 1 {
			buf.WriteByte('[')
		}
		for i := range size {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(`{"type":"track_added","message":"Трек добавлен в плейлист","user_email":"dj@example.com","details":{"track_id":42,"title":"Ночь"}`)
			if keyed {
				buf.WriteString(`,"idempotency_key":"bench-` + strconv.FormatInt(seq.Add(1), 36) + `"`)
			}
			buf.WriteByte('}')
		}
		if size > 1 {
			buf.WriteByte(']')
		}
		return buf.Bytes()
	}
	for _, be := range backends {
		for _, size := range []int{1, 100} {
			for _, keyed := range []bool{false, true} {
				for _, keep := range []int{storage.DefaultEventsKeep, 100_000_000} {
					name := fmt.Sprintf("%s/batch=%d/keyed=%v/keep=%d", be.name, size, keyed, keep)
					b.Run(name, func(b *testing.B) {
						h := newHarness(b, be.open(b, keep))
						url := h.serve() + "/api/v1/events"
						client := benchClient()
						var fixed []byte
						if !keyed {
							fixed = body(size, false)
						}
						b.SetParallelism(8)
						start, cpu := time.Now(), cpuTime(b)
						hammer(b, client, func() *http.Request {
							payload := fixed
							if keyed {
								payload = body(size, true)
							}
							r, _ := http.NewRequest("POST", url, bytes.NewReader(payload))
							r.Header.Set("Content-Type", "application/json")
							asIngest(r)
							return r
						}, 201)
						b.ReportMetric(float64(b.N*size)/time.Since(start).Seconds(), "events/s")
						// CPU of this process (server and clients) per event:
						// steadier than events/s on a shared machine, and the
						// whole cost on SQLite (PostgreSQL's own is not in it).
						b.ReportMetric(float64((cpuTime(b)-cpu).Microseconds())/float64(b.N*size), "cpu-µs/event")
					})
				}
			}
		}
	}
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
