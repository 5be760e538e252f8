package probes

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The cgroup-aware readers against the fixture trees in testdata/, each a
// miniature root with /proc and /sys/fs/cgroup. The host figures of every
// tree are the same: MemTotal 8000000 kB = 8192000000 B, MemAvailable
// 6000000 kB = 6144000000 B, so the host's used is 2000000 kB =
// 2048000000 B, 25 %.

const (
	hostTotal = 8192000000
	hostUsed  = 2048000000
)

func fixture(name string) string { return filepath.Join("testdata", name) }

func TestMemoryFixtures(t *testing.T) {
	tests := []struct {
		tree        string
		used, total uint64
		percent     float64
		source      string
		wantReason  string // non-empty: unavailable with a reason containing it
	}{
		// 128 MiB current - 32 MiB inactive_file = 96 MiB = 100663296 of
		// 256 MiB = 268435456: 37.5 %
		{"v2-limited", 100663296, 268435456, 37.5, SourceCgroupV2, ""},
		// memory.max "max": the host
		{"v2-unlimited", hostUsed, hostTotal, 25, SourceHost, ""},
		// the service's max is "max", its slice's 1 GiB applies: 512 MiB
		// current - 0 inactive = 536870912 of 1073741824: 50 %
		{"v2-nested", 536870912, 1073741824, 50, SourceCgroupV2, ""},
		// path invisible to the container, files at the mount point:
		// 256 MiB - 64 MiB = 192 MiB = 201326592 of 512 MiB: 37.5 %
		{"v2-foreign-path", 201326592, 536870912, 37.5, SourceCgroupV2, ""},
		// limit 16 GiB above the host's 8192000000 B: the host
		{"v2-above-host", hostUsed, hostTotal, 25, SourceHost, ""},
		// 322961408 usage - 50331648 total_inactive_file = 272629760 of
		// 536870912: 50.78125 -> 50.78 %
		{"v1-limited", 272629760, 536870912, 50.78, SourceCgroupV1, ""},
		// like this machine: nested memory cgroup without limit: the host
		{"v1-unlimited", hostUsed, hostTotal, 25, SourceHost, ""},
		// own limit unset, hierarchical_memory_limit 256 MiB: 64 MiB -
		// 16 MiB = 48 MiB = 50331648 of 268435456: 18.75 %
		{"v1-hierarchy", 50331648, 268435456, 18.75, SourceCgroupV1, ""},
		// old Docker, mount root = own cgroup: 107374182 of 1073741824 =
		// 9.99999994 -> 10 %
		{"v1-namespaced", 107374182, 1073741824, 10, SourceCgroupV1, ""},
		// v1 memory wins over the controller-less cgroup2: 1 GiB - 512 MiB
		// = 536870912 of 2 GiB = 2147483648: 25 %
		{"hybrid", 536870912, 2147483648, 25, SourceCgroupV1, ""},
		// no cgroup files at all: the host
		{"missing", hostUsed, hostTotal, 25, SourceHost, ""},
		{"no-meminfo", 0, 0, 0, "", "host: meminfo: no such file"},
		{"old-meminfo", 0, 0, 0, "", "MemAvailable: field missing"},
		{"unreadable", 0, 0, 0, "", "cgroup v2: memory.current: is a directory"},
		{"garbage", 0, 0, 0, "", `cgroup v2: memory.max: invalid limit "lots"`},
	}
	for _, tt := range tests {
		t.Run(tt.tree, func(t *testing.T) {
			var s Snapshot
			NewMemoryProbe(HostConfig{Root: fixture(tt.tree)}).Read(context.Background()).Place(&s)
			m := s.Memory
			if tt.wantReason != "" {
				if m.Status != StatusUnavailable || !strings.Contains(m.Reason, tt.wantReason) ||
					m.Percent != nil || m.UsedBytes != nil || m.TotalBytes != nil {
					t.Fatalf("got %+v, want unavailable %q with null numbers", m, tt.wantReason)
				}
				return
			}
			if m.Status != StatusOK || m.Source != tt.source || *m.UsedBytes != tt.used ||
				*m.TotalBytes != tt.total || *m.Percent != tt.percent {
				t.Fatalf("got %s %q %s used=%d total=%d pct=%v, want used=%d total=%d pct=%v source=%s",
					m.Status, m.Reason, m.Source, deref(m.UsedBytes), deref(m.TotalBytes), deref(m.Percent),
					tt.used, tt.total, tt.percent, tt.source)
			}
		})
	}
}

func TestCPULimitFixtures(t *testing.T) {
	tests := []struct {
		tree       string
		numCPU     int
		cores      float64
		source     string
		wantReason string
	}{
		// min(50000/100000 = 0.5, cpuset 0-3 = 4, 8) = 0.5
		{"v2-limited", 8, 0.5, SourceCgroupV2, ""},
		// "max": 8 CPUs, the host
		{"v2-unlimited", 8, 8, SourceHost, ""},
		// the slice's 200000/100000 = 2 beats the service's max and cpuset 8
		{"v2-nested", 8, 2, SourceCgroupV2, ""},
		// 100000/100000 = 1 at the mount point
		{"v2-foreign-path", 8, 1, SourceCgroupV2, ""},
		// 16 cores of quota on 8 CPUs: no limit
		{"v2-above-host", 8, 8, SourceHost, ""},
		// min(150000/100000 = 1.5, cpuset 0-1 = 2, 8) = 1.5
		{"v1-limited", 8, 1.5, SourceCgroupV1, ""},
		// the same tree on a 1-CPU machine: NumCPU wins, no limit
		{"v1-limited", 1, 1, SourceHost, ""},
		// quota -1 at the root, cpuset 0-1 = 2 = NumCPU: the host
		{"v1-unlimited", 2, 2, SourceHost, ""},
		// the parent's 25000/100000 = 0.25 caps the child's -1
		{"v1-hierarchy", 8, 0.25, SourceCgroupV1, ""},
		// 300000/100000 = 3 at the mount root
		{"v1-namespaced", 8, 3, SourceCgroupV1, ""},
		// v1 cpu 100000/100000 = 1, cpuset 0-7
		{"hybrid", 8, 1, SourceCgroupV1, ""},
		{"missing", 4, 4, SourceHost, ""},
		{"garbage", 4, 0, "", `cgroup v2: cpu.max: invalid quota "fifty"`},
	}
	for _, tt := range tests {
		t.Run(tt.tree, func(t *testing.T) {
			lim, err := newSysfs(fixture(tt.tree)).cpuLimit(tt.numCPU)
			if tt.wantReason != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantReason) {
					t.Fatalf("err %v, want %q", err, tt.wantReason)
				}
				return
			}
			if err != nil || lim.cores != tt.cores || lim.source != tt.source {
				t.Fatalf("got %v cores from %s (%v), want %v from %s", lim.cores, lim.source, err, tt.cores, tt.source)
			}
		})
	}
}

// TestCPUProbeDelta drives the CPU probe through two readings of a copied
// fixture tree, with a fake clock.
func TestCPUProbeDelta(t *testing.T) {
	t.Run("cgroup v2", func(t *testing.T) {
		root := copyTree(t, fixture("v2-limited"))
		p := NewCPUProbe(HostConfig{Root: root, NumCPU: 8})
		clock := time.Unix(1000, 0)
		p.now = func() time.Time { return clock }

		var s Snapshot
		p.Read(context.Background()).Place(&s)
		if s.CPU.Status != StatusUnavailable || s.CPU.Reason != "warming up" || s.CPU.Percent != nil {
			t.Fatalf("first reading: %+v", s.CPU)
		}
		// one second later the cgroup used 250 ms more (1000000 ->
		// 1250000 us), 10 more periods of which 2 throttled, 50 ms more
		// throttled time.
		clock = clock.Add(time.Second)
		writeFile(t, root, "/sys/fs/cgroup/cpu.stat",
			"usage_usec 1250000\nnr_periods 110\nnr_throttled 12\nthrottled_usec 300000\n")
		p.Read(context.Background()).Place(&s)
		c := s.CPU
		// 0.25 s / (1 s * 0.5 core) = 50 %; throttled 2/10 = 20 %;
		// total 12 periods and 300000 us = 300 ms
		if c.Status != StatusOK || *c.Percent != 50 || *c.Cores != 0.5 || c.Source != SourceCgroupV2 ||
			*c.ThrottledPercent != 20 || *c.ThrottledPeriodsTotal != 12 || *c.ThrottledMSTotal != 300 {
			t.Fatalf("got %+v pct=%v cores=%v thr%%=%v thr=%v ms=%v", c, deref(c.Percent), deref(c.Cores),
				deref(c.ThrottledPercent), deref(c.ThrottledPeriodsTotal), deref(c.ThrottledMSTotal))
		}
		// a counter going backwards (cgroup re-created) is a new baseline
		clock = clock.Add(time.Second)
		writeFile(t, root, "/sys/fs/cgroup/cpu.stat", "usage_usec 5\n")
		p.Read(context.Background()).Place(&s)
		if s.CPU.Status != StatusUnavailable || s.CPU.Reason != "warming up" {
			t.Fatalf("after reset: %+v", s.CPU)
		}
	})
	t.Run("cgroup v1", func(t *testing.T) {
		root := copyTree(t, fixture("v1-limited"))
		p := NewCPUProbe(HostConfig{Root: root, NumCPU: 8})
		clock := time.Unix(1000, 0)
		p.now = func() time.Time { return clock }
		var s Snapshot
		p.Read(context.Background()).Place(&s)
		// 2 s later cpuacct.usage grew 5000000000 -> 6500000000 ns = 1.5 s
		clock = clock.Add(2 * time.Second)
		writeFile(t, root, "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpuacct.usage", "6500000000\n")
		writeFile(t, root, "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.stat", "nr_periods 70\nnr_throttled 5\nthrottled_time 40000000\n")
		p.Read(context.Background()).Place(&s)
		c := s.CPU
		// 1.5 s / (2 s * 1.5 cores) = 50 %; 0 of 20 periods throttled;
		// throttled_time 40000000 ns = 40 ms
		if c.Status != StatusOK || *c.Percent != 50 || *c.Cores != 1.5 || c.Source != SourceCgroupV1 ||
			*c.ThrottledPercent != 0 || *c.ThrottledPeriodsTotal != 5 || *c.ThrottledMSTotal != 40 {
			t.Fatalf("got %+v", c)
		}
	})
	t.Run("host", func(t *testing.T) {
		root := copyTree(t, fixture("missing"))
		p := NewCPUProbe(HostConfig{Root: root, NumCPU: 4})
		var s Snapshot
		p.Read(context.Background()).Place(&s)
		// from total 19200 idle 13000 to total 19600 idle 13100: 400
		// ticks, 100 idle: 75 %
		writeFile(t, root, "/proc/stat", "cpu  4200 100 2100 12050 1050 50 50 0 0 0\n")
		p.Read(context.Background()).Place(&s)
		if c := s.CPU; c.Status != StatusOK || *c.Percent != 75 || *c.Cores != 4 || c.Source != SourceHost ||
			c.ThrottledPercent != nil {
			t.Fatalf("got %+v", c)
		}
	})
	t.Run("unavailable", func(t *testing.T) {
		for tree, want := range map[string]string{
			"unreadable": "cgroup v2: cpu.stat: is a directory",
			"garbage":    "cgroup v2: cpu.max: invalid quota",
			"no-meminfo": "host: stat: no such file",
		} {
			var s Snapshot
			NewCPUProbe(HostConfig{Root: fixture(tree), NumCPU: 8}).Read(context.Background()).Place(&s)
			if s.CPU.Status != StatusUnavailable || !strings.Contains(s.CPU.Reason, want) || s.CPU.Cores != nil {
				t.Errorf("%s: got %+v, want %q", tree, s.CPU, want)
			}
		}
	})
}

func TestLoadFixtures(t *testing.T) {
	root := copyTree(t, fixture("v2-limited"))
	writeFile(t, root, "/proc/loadavg", "1.00 0.50 0.25 3/200 4242\n")
	writeFile(t, root, "/proc/uptime", "3600.50 7000.00\n")
	var s Snapshot
	NewLoadProbe(HostConfig{Root: root, NumCPU: 8}).Read(context.Background()).Place(&s)
	l := s.Load
	// effective cores 0.5: 1.00/0.5 = 2, 0.50/0.5 = 1, 0.25/0.5 = 0.5
	if l.Status != StatusOK || *l.Load1 != 1 || *l.Cores != 0.5 || *l.Load1PerCore != 2 || *l.Load5PerCore != 1 ||
		*l.Load15PerCore != 0.5 || *l.HostUptimeSeconds != 3600.5 {
		t.Fatalf("got %+v", l)
	}
	NewLoadProbe(HostConfig{Root: fixture("missing"), NumCPU: 8}).Read(context.Background()).Place(&s)
	if s.Load.Status != StatusUnavailable || !strings.Contains(s.Load.Reason, "loadavg") {
		t.Fatalf("missing: %+v", s.Load)
	}
}

func TestNetworkAndProcessFixtures(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "/proc/net/dev", "Inter-|\n face |\n lo: 9 0 0 0 0 0 0 0 9 0 0 0 0 0 0 0\n eth0: 1000 0 0 0 0 0 0 0 4000 0 0 0 0 0 0 0\n")
	writeFile(t, root, "/proc/self/statm", "100 25 10 1 0 5 0\n")
	p := NewNetworkProbe(HostConfig{Root: root})
	clock := time.Unix(0, 0)
	p.now = func() time.Time { return clock }
	var s Snapshot
	p.Read(context.Background()).Place(&s)
	if s.Network.Status != StatusUnavailable || s.Network.Reason != "warming up" {
		t.Fatalf("first: %+v", s.Network)
	}
	clock = clock.Add(4 * time.Second)
	writeFile(t, root, "/proc/net/dev", "Inter-|\n face |\n lo: 99999 0 0 0 0 0 0 0 99999 0 0 0 0 0 0 0\n eth0: 9000 0 0 0 0 0 0 0 6000 0 0 0 0 0 0 0\n")
	p.Read(context.Background()).Place(&s)
	// eth0 +8000 rx, +2000 tx over 4 s: 2000 and 500 B/s; lo ignored
	n := s.Network
	if n.Status != StatusOK || *n.ReceiveBytesPerSecond != 2000 || *n.TransmitBytesPerSecond != 500 || *n.Interfaces != 1 {
		t.Fatalf("got %+v", n)
	}

	NewProcessProbe(HostConfig{Root: root, Started: time.Now().Add(-time.Minute)}).Read(context.Background()).Place(&s)
	// 25 pages * page size
	pr := s.Process
	if pr.Status != StatusOK || *pr.RSSBytes != uint64(25*os.Getpagesize()) || *pr.Goroutines < 1 || *pr.UptimeSeconds < 60 {
		t.Fatalf("got %+v", pr)
	}
	NewProcessProbe(HostConfig{Root: fixture("missing")}).Read(context.Background()).Place(&s)
	if s.Process.Status != StatusUnavailable || s.Process.RSSBytes != nil {
		t.Fatalf("missing: %+v", s.Process)
	}
}

// copyTree copies a fixture tree into a fresh temporary directory that a
// test may change.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// writeFile writes content at the absolute path p below root.
func writeFile(t *testing.T, root, p, content string) {
	t.Helper()
	full := filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// deref shows a pointer's value in failure messages; nil shows as nil.
func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestParseMaxOpenFiles(t *testing.T) {
	limits := "Limit                     Soft Limit           Hard Limit           Units     \n" +
		"Max processes             95373                95373                processes \n" +
		"Max open files            524288               524288               files     \n"
	if n, ok := parseMaxOpenFiles([]byte(limits)); !ok || n != 524288 {
		t.Errorf("parseMaxOpenFiles = %d, %v; want 524288, true", n, ok)
	}
	unlimited := "Max open files            unlimited            unlimited            files     \n"
	if _, ok := parseMaxOpenFiles([]byte(unlimited)); ok {
		t.Error("an unlimited soft limit was read as a number")
	}
	if _, ok := parseMaxOpenFiles([]byte("Max processes 1 1 processes\n")); ok {
		t.Error("a file without the line was read as a limit")
	}
}
