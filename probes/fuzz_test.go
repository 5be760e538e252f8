package probes

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Fuzz targets for the /proc and cgroup parsers. Their seed corpora (every
// fixture file of that name under testdata, plus a few edge cases) run as
// ordinary tests; `go test ./probes -run '^$' -fuzz FuzzX -fuzztime 5m`
// searches further. The properties are what the probes rely on: no panic,
// and a value that is returned is one a figure can be built from (finite,
// consistent, not wrapped around).

// addFixtures seeds f with the content of every fixture file named name.
func addFixtures(f *testing.F, name string) {
	f.Helper()
	err := filepath.WalkDir("testdata", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != name {
			return nil //nolint:nilerr // an unreadable fixture (the "unreadable" tree) is simply not a seed
		}
		if data, rerr := os.ReadFile(path); rerr == nil {
			f.Add(data)
		}
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
}

func FuzzParseMountinfo(f *testing.F) {
	addFixtures(f, "mountinfo")
	f.Add([]byte("1 0 0:1 / / rw - ext4 /dev/root rw\n"))
	f.Add([]byte("1 0 0:1 /a\\040b /m\\134x rw shared:1 - cgroup cg rw,cpu,cpuacct\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ms, err := parseMountinfo(data)
		if err != nil {
			return
		}
		if len(ms) == 0 {
			t.Fatal("no error and no mounts")
		}
		for _, m := range ms {
			if m.fstype == "" || m.point == "" {
				t.Fatalf("mount with empty fstype or point: %+v", m)
			}
		}
	})
}

func FuzzParseProcCgroup(f *testing.F) {
	addFixtures(f, "cgroup")
	f.Add([]byte("0::/\n"))
	f.Add([]byte("12:cpu,cpuacct:/user.slice\n0::/init.scope\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cgs, err := parseProcCgroup(data)
		if err != nil {
			return
		}
		if len(cgs) == 0 {
			t.Fatal("no error and no lines")
		}
		for _, c := range cgs {
			if !strings.HasPrefix(c.path, "/") {
				t.Fatalf("relative cgroup path %q", c.path)
			}
			if c.v2 && len(c.controllers) != 0 {
				t.Fatalf("v2 line with controllers: %+v", c)
			}
		}
	})
}

// FuzzParseCgroupFiles feeds one input to every single-value cgroup parser.
func FuzzParseCgroupFiles(f *testing.F) {
	for _, name := range []string{"memory.max", "memory.limit_in_bytes", "cpu.max", "cpu.cfs_quota_us",
		"cpu.cfs_period_us", "cpuset.effective_cpus", "memory.current", "cpuacct.usage", "cpu.stat", "memory.stat"} {
		addFixtures(f, name)
	}
	f.Add([]byte("max 100000\n"))
	f.Add([]byte("0-3,6,8-9\n"))
	f.Add([]byte("9223372036854771712\n"))
	f.Add([]byte("0-9223372036854775806,0-9223372036854775806"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if limit, unlimited, err := parseMemLimit(data); err == nil && !unlimited && limit >= unlimitedThreshold {
			t.Fatalf("limit %d at or above the unlimited threshold", limit)
		}
		if quota, period, err := parseCPUMax(data); err == nil {
			if period <= 0 || (quota != -1 && quota <= 0) {
				t.Fatalf("cpu.max gave quota %d period %d", quota, period)
			}
		}
		if n, err := parseCPUList(data); err == nil && n < 1 {
			t.Fatalf("cpu list of %d CPUs", n)
		}
		if v, err := parseUintFile(data); err == nil && strconv.FormatUint(v, 10) != withoutLeadingZeros(strings.TrimSpace(string(data))) {
			t.Fatalf("parseUintFile(%q) = %d", data, v)
		}
		_, _ = parseInt(data)
		_, _ = parseKeyed(data, "usage_usec")
	})
}

// withoutLeadingZeros is how FormatUint writes the number a file holds.
func withoutLeadingZeros(s string) string {
	if t := strings.TrimLeft(s, "0"); t != "" {
		return t
	}
	return "0"
}

func FuzzParseMeminfo(f *testing.F) {
	addFixtures(f, "meminfo")
	f.Add([]byte("MemTotal: 18446744073709551615 kB\nMemAvailable: 1 kB\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		total, avail, err := parseMeminfo(data)
		if err != nil {
			return
		}
		if total == 0 || avail > total {
			t.Fatalf("total %d available %d", total, avail)
		}
	})
}

func FuzzParseProcStat(f *testing.F) {
	addFixtures(f, "stat")
	f.Add([]byte("cpu 18446744073709551615 1 1 18446744073709551615 1 0 0 0 0 0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, err := parseProcStat(data)
		if err != nil {
			return
		}
		if ts.idle > ts.total {
			t.Fatalf("idle %d above total %d", ts.idle, ts.total)
		}
	})
}

// FuzzParseProcMisc covers the small /proc files: loadavg, uptime,
// net/dev and statm.
func FuzzParseProcMisc(f *testing.F) {
	f.Add([]byte("0.52 0.58 0.59 2/1146 3051\n"))
	f.Add([]byte("350735.47 234388.90\n"))
	f.Add([]byte("NaN Inf +Inf 1/1 1\n"))
	f.Add([]byte("Inter-|   Receive\n face |bytes\n  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"))
	f.Add([]byte("1000 2251799813685248 3 4 0 5 0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if l1, l5, l15, err := parseLoadavg(data); err == nil {
			for _, v := range []float64{l1, l5, l15} {
				if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("load average %v", v)
				}
			}
		}
		if up, err := parseUptime(data); err == nil && (up < 0 || math.IsNaN(up) || math.IsInf(up, 0)) {
			t.Fatalf("uptime %v", up)
		}
		if ifs, err := parseNetDev(data); err == nil {
			for _, i := range ifs {
				if i.name == "lo" {
					t.Fatal("loopback counted")
				}
			}
		}
		if rss, err := parseStatmRSS(data, 4096); err == nil {
			f := strings.Fields(string(data))
			pages, _ := strconv.ParseUint(f[1], 10, 64)
			if rss/4096 != pages {
				t.Fatalf("statm %d pages gave %d bytes", pages, rss)
			}
		}
	})
}
