package probes

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sysfs reads /proc and /sys files below a root directory: "/" in
// production, a fixture tree under testdata/ in tests.
type sysfs struct {
	root   string
	layout *layoutCache
}

func newSysfs(root string) sysfs {
	if root == "" {
		root = "/"
	}
	return sysfs{root: root, layout: &layoutCache{}}
}

// layoutTTL is how long a cgroup layout is reused. Reading and parsing
// /proc/self/mountinfo on every tick was most of an idle vitals' CPU; a
// process changes cgroup rarely (never, in a container), and a minute-old
// layout is at worst a minute late to notice.
const layoutTTL = time.Minute

// layoutCache keeps the last cgroup layout a probe read. Probes of one
// tick run concurrently, hence the lock; it is held only to copy.
type layoutCache struct {
	mu      sync.Mutex
	layout  cgroupLayout
	expires time.Time
}

// read returns the content of the absolute path p below the root.
func (f sysfs) read(p string) ([]byte, error) {
	return os.ReadFile(filepath.Join(f.root, p))
}

// countDir counts the entries of the absolute directory p below the root
// (names only: no stat per entry).
func (f sysfs) countDir(p string) (uint64, error) {
	d, err := os.Open(filepath.Join(f.root, p))
	if err != nil {
		return 0, err
	}
	defer d.Close()
	var n uint64
	for {
		names, err := d.Readdirnames(64)
		n += uint64(len(names))
		if err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
	}
}

// exists reports whether the absolute path p exists below the root.
func (f sysfs) exists(p string) bool {
	_, err := os.Stat(filepath.Join(f.root, p))
	return err == nil
}

// isNotExist reports a missing file, which means "this source does not
// apply here" (fall back), as opposed to a file that exists and cannot be
// read or parsed (report unavailable).
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// errNoField is returned when a keyed file lacks the key asked for.
var errNoField = errors.New("field missing")

// parseMeminfo returns MemTotal and MemAvailable from /proc/meminfo, in
// bytes. MemAvailable is the kernel's own estimate of what can be given to
// programs without swapping (free's "available" column), so total minus it
// is the honest "used".
func parseMeminfo(data []byte) (total, available uint64, err error) {
	var haveTotal, haveAvail bool
	for line := range bytes.Lines(data) {
		key, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *uint64
		switch string(key) {
		case "MemTotal":
			dst, haveTotal = &total, true
		case "MemAvailable":
			dst, haveAvail = &available, true
		default:
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) == 0 {
			return 0, 0, fmt.Errorf("%s: no value", key)
		}
		v, perr := strconv.ParseUint(f[0], 10, 64)
		if perr != nil {
			return 0, 0, fmt.Errorf("%s: %w", key, perr)
		}
		if len(f) > 1 && f[1] == "kB" {
			if v > math.MaxUint64/1024 {
				return 0, 0, fmt.Errorf("%s: value out of range", key)
			}
			v *= 1024
		}
		*dst = v
	}
	switch {
	case !haveTotal:
		return 0, 0, fmt.Errorf("MemTotal: %w", errNoField)
	case !haveAvail:
		return 0, 0, fmt.Errorf("MemAvailable: %w", errNoField)
	case total == 0:
		return 0, 0, errors.New("MemTotal is 0")
	case available > total:
		return 0, 0, errors.New("MemAvailable exceeds MemTotal")
	}
	return total, available, nil
}

// hostCPUTimes are the aggregate counters of /proc/stat's "cpu" line, in
// clock ticks.
type hostCPUTimes struct {
	total, idle uint64
}

// parseProcStat reads the aggregate "cpu" line of /proc/stat. Idle time is
// idle + iowait (a core waiting for I/O could run something else); guest
// and guest_nice are left out of the total because user and nice already
// include them.
func parseProcStat(data []byte) (hostCPUTimes, error) {
	for line := range bytes.Lines(data) {
		f := strings.Fields(string(line))
		if len(f) == 0 || f[0] != "cpu" {
			continue
		}
		if len(f) < 5 {
			return hostCPUTimes{}, errors.New("cpu line too short")
		}
		var t hostCPUTimes
		// user nice system idle iowait irq softirq steal guest guest_nice
		for i, s := range f[1:min(len(f), 9)] {
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return hostCPUTimes{}, fmt.Errorf("cpu field %d: %w", i+1, err)
			}
			if t.total+v < t.total {
				return hostCPUTimes{}, errors.New("cpu counters out of range")
			}
			t.total += v
			if i == 3 || i == 4 {
				t.idle += v
			}
		}
		return t, nil
	}
	return hostCPUTimes{}, errors.New("no cpu line")
}

// hostCPUPercent is the busy share of the time between two /proc/stat
// readings, across all cores. ok is false when no time elapsed or a counter
// went backwards (a reset), in which case the caller takes a new baseline.
func hostCPUPercent(prev, cur hostCPUTimes) (pct float64, ok bool) {
	if cur.total <= prev.total || cur.idle < prev.idle {
		return 0, false
	}
	dt := float64(cur.total - prev.total)
	di := float64(cur.idle - prev.idle)
	return percent(dt-di, dt), true
}

// parseLoadavg returns the 1, 5 and 15 minute load averages.
func parseLoadavg(data []byte) (l1, l5, l15 float64, err error) {
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return 0, 0, 0, errors.New("too few fields")
	}
	var v [3]float64
	for i := range v {
		if v[i], err = strconv.ParseFloat(f[i], 64); err != nil || !finiteNonNegative(v[i]) {
			return 0, 0, 0, fmt.Errorf("field %d: invalid %q", i+1, f[i])
		}
	}
	return v[0], v[1], v[2], nil
}

// parseUptime returns the first field of /proc/uptime, seconds since boot.
func parseUptime(data []byte) (float64, error) {
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0, errors.New("empty")
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil || !finiteNonNegative(v) {
		return 0, fmt.Errorf("invalid %q", f[0])
	}
	return v, nil
}

// ifaceCounters are one interface's byte counters from /proc/net/dev.
type ifaceCounters struct {
	name   string
	rx, tx uint64
}

// parseNetDev returns the byte counters of every interface but loopback.
func parseNetDev(data []byte) ([]ifaceCounters, error) {
	var out []ifaceCounters
	for line := range bytes.Lines(data) {
		name, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue // the two header lines
		}
		n := strings.TrimSpace(string(name))
		if n == "lo" {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) < 9 {
			return nil, fmt.Errorf("%s: too few fields", n)
		}
		rx, err1 := strconv.ParseUint(f[0], 10, 64)
		tx, err2 := strconv.ParseUint(f[8], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: invalid counters", n)
		}
		out = append(out, ifaceCounters{name: n, rx: rx, tx: tx})
	}
	return out, nil
}

// netRates returns received and transmitted bytes per second between two
// readings secs apart. Interfaces present in only one reading, or whose
// counters went backwards (re-created, wrapped), contribute nothing rather
// than a huge bogus spike.
func netRates(prev, cur []ifaceCounters, secs float64) (rx, tx float64) {
	if secs <= 0 {
		return 0, 0
	}
	var drx, dtx uint64
	for _, c := range cur {
		for _, p := range prev {
			if p.name != c.name {
				continue
			}
			if c.rx >= p.rx && c.tx >= p.tx {
				drx += c.rx - p.rx
				dtx += c.tx - p.tx
			}
			break
		}
	}
	return round(float64(drx)/secs, 1), round(float64(dtx)/secs, 1)
}

// parseStatmRSS returns the resident set size from /proc/self/statm, whose
// second field counts pages.
func parseStatmRSS(data []byte, pageSize int) (uint64, error) {
	f := strings.Fields(string(data))
	if len(f) < 2 {
		return 0, errors.New("too few fields")
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil || (pageSize > 0 && pages > math.MaxUint64/uint64(pageSize)) {
		return 0, fmt.Errorf("invalid resident %q", f[1])
	}
	return pages * uint64(pageSize), nil
}

// finiteNonNegative rejects what ParseFloat accepts but no /proc counter
// holds: NaN, infinities and negatives (a NaN would also break the JSON).
func finiteNonNegative(v float64) bool {
	return v >= 0 && !math.IsInf(v, 0)
}

// userHZ is the unit of /proc/stat's and /proc/<pid>/stat's CPU times:
// USER_HZ, 100 on every architecture Linux runs Go on.
const userHZ = 100

// selfStat is what /proc/self/stat says of the process's footprint.
type selfStat struct {
	cpuSeconds float64
	vsizeBytes uint64
}

// parseSelfStat reads utime, stime (fields 14 and 15, in USER_HZ ticks)
// and vsize (field 23, bytes) of /proc/<pid>/stat. Fields are counted
// after the last ')', since the command name in parentheses may hold
// spaces and parentheses itself.
func parseSelfStat(data []byte) (selfStat, error) {
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return selfStat{}, errors.New("no command name")
	}
	// f[0] is field 3 (state).
	f := strings.Fields(s[i+1:])
	if len(f) < 21 {
		return selfStat{}, errors.New("too few fields")
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	vsize, err3 := strconv.ParseUint(f[20], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return selfStat{}, fmt.Errorf("invalid field: %w", err)
	}
	return selfStat{cpuSeconds: float64(utime+stime) / userHZ, vsizeBytes: vsize}, nil
}
