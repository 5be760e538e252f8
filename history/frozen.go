package history

import (
	"sync"
	"time"
)

// frozenCache keeps the steps of rolled-up ranges that can no longer
// change: a roll-up only ever adds buckets at or after the tier's
// watermark, so every step that ends before the start of the watermark's
// chunk is final. Re-reading them is most of a 1-year query's cost
// (decoding 53 weekly chunks a series), so a query takes them from here and
// reads only the open chunk and the tiers below from the store. Entries
// expire after frozenTTL so that a chunk pruned by a retention shorter than
// the range stops being shown, and the cache is bounded by frozenEntries
// (at most 300 points, 12 KB, each).
type frozenCache struct {
	mu      sync.Mutex
	entries map[frozenKey]*frozenEntry
	// now is the clock of the entries' age: a test's clock moves it, the
	// queries' now is not used so that a query in the past cannot renew one.
	now func() time.Time
	// hits counts the steps served from here, for the tests.
	hits int
}

const (
	frozenEntries = 256
	frozenTTL     = 10 * time.Minute
)

type frozenKey struct {
	instance, series string
	tier             int
	stepMS           int64
}

// frozenEntry holds the final buckets of the steps [lo, hi).
type frozenEntry struct {
	lo, hi   int64
	pts      []Point
	stored   time.Time
	lastUsed time.Time
}

func newFrozenCache() *frozenCache {
	return &frozenCache{entries: make(map[frozenKey]*frozenEntry), now: time.Now}
}

// get copies the cached final buckets from start on into dst (one bucket
// per step from start) and returns the time up to which it filled them;
// start itself when it has none.
func (f *frozenCache) get(k frozenKey, start int64, dst []Point) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.entries[k]
	now := f.now()
	if !ok || now.Sub(e.stored) > frozenTTL || e.lo > start || e.hi <= start {
		return start
	}
	e.lastUsed = now
	from := (start - e.lo) / k.stepMS
	n := copy(dst, e.pts[from:])
	f.hits += n
	return start + int64(n)*k.stepMS
}

// put records the final buckets pts of the steps from start on; an entry
// that already reaches further is kept (another query may have seen a newer
// watermark).
func (f *frozenCache) put(k frozenKey, start int64, pts []Point) {
	if len(pts) == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	hi := start + int64(len(pts))*k.stepMS
	if e, ok := f.entries[k]; ok && now.Sub(e.stored) <= frozenTTL && e.lo <= start && e.hi >= hi {
		return
	}
	if _, ok := f.entries[k]; !ok && len(f.entries) >= frozenEntries {
		var oldest frozenKey
		var at time.Time
		first := true
		for key, e := range f.entries {
			if first || e.lastUsed.Before(at) {
				oldest, at, first = key, e.lastUsed, false
			}
		}
		delete(f.entries, oldest)
	}
	f.entries[k] = &frozenEntry{lo: start, hi: hi, pts: append([]Point(nil), pts...), stored: now, lastUsed: now}
}
