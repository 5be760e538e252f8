package probes

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// The arithmetic and parsers, table by table. Every expected figure is
// worked out by hand in the comment beside it.

func TestParseMeminfo(t *testing.T) {
	tests := []struct {
		name             string
		in               string
		total, available uint64
		wantErr          string
	}{
		// 8000000 kB * 1024 = 8192000000; 6000000 kB * 1024 = 6144000000
		{"kernel", "MemTotal:  8000000 kB\nMemFree: 1 kB\nMemAvailable: 6000000 kB\n", 8192000000, 6144000000, ""},
		// order does not matter, other keys ignored
		{"order", "MemAvailable: 1 kB\nSwapTotal: 9 kB\nMemTotal: 2 kB\n", 2048, 1024, ""},
		{"no available (kernel < 3.14)", "MemTotal: 8000000 kB\nMemFree: 1 kB\n", 0, 0, "MemAvailable"},
		{"no total", "MemAvailable: 1 kB\n", 0, 0, "MemTotal"},
		{"garbage", "MemTotal: lots kB\nMemAvailable: 1 kB\n", 0, 0, "MemTotal"},
		{"empty value", "MemTotal:\nMemAvailable: 1 kB\n", 0, 0, "no value"},
		{"zero total", "MemTotal: 0 kB\nMemAvailable: 0 kB\n", 0, 0, "is 0"},
		{"available above total", "MemTotal: 1 kB\nMemAvailable: 2 kB\n", 0, 0, "exceeds"},
		{"empty", "", 0, 0, "MemTotal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			total, avail, err := parseMeminfo([]byte(tt.in))
			checkErr(t, err, tt.wantErr)
			if total != tt.total || avail != tt.available {
				t.Errorf("got %d/%d, want %d/%d", total, avail, tt.total, tt.available)
			}
		})
	}
}

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    hostCPUTimes
		wantErr string
	}{
		// user nice system idle iowait irq softirq steal guest guest_nice
		// total = 4000+100+2000+12000+1000+50+50+0 = 19200 (guest 300 is in user already)
		// idle = 12000+1000 = 13000
		{"full", "cpu  4000 100 2000 12000 1000 50 50 0 300 0\ncpu0 1 1 1 1 1\n", hostCPUTimes{19200, 13000}, ""},
		// old kernel, 4 fields: total 1+2+3+4 = 10, idle 4
		{"four fields", "cpu 1 2 3 4\n", hostCPUTimes{10, 4}, ""},
		// the aggregate line is found after other lines
		{"not first", "intr 5\ncpu 1 1 1 1 1\n", hostCPUTimes{5, 2}, ""},
		{"no cpu line", "cpu0 1 2 3 4 5\n", hostCPUTimes{}, "no cpu line"},
		{"short", "cpu 1 2\n", hostCPUTimes{}, "too short"},
		{"garbage", "cpu  a b c d e\n", hostCPUTimes{}, "field 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcStat([]byte(tt.in))
			checkErr(t, err, tt.wantErr)
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestHostCPUPercent(t *testing.T) {
	tests := []struct {
		name      string
		prev, cur hostCPUTimes
		want      float64
		ok        bool
	}{
		// 400 ticks elapsed, 100 idle: (400-100)/400 = 75 %
		{"busy", hostCPUTimes{1000, 500}, hostCPUTimes{1400, 600}, 75, true},
		// all idle: 0 %
		{"idle", hostCPUTimes{1000, 500}, hostCPUTimes{1100, 600}, 0, true},
		// 3 of 9 ticks busy: 33.333 -> 33.33
		{"rounded", hostCPUTimes{0, 0}, hostCPUTimes{9, 6}, 33.33, true},
		{"no time", hostCPUTimes{1000, 500}, hostCPUTimes{1000, 500}, 0, false},
		{"reset", hostCPUTimes{1000, 500}, hostCPUTimes{10, 5}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := hostCPUPercent(tt.prev, tt.cur)
			if ok != tt.ok || (ok && got != tt.want) {
				t.Errorf("got %v/%v, want %v/%v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestCgroupCPUPercent(t *testing.T) {
	tests := []struct {
		name          string
		usageNs, wall uint64
		cores         float64
		want          float64
	}{
		// 250 ms of CPU in 1 s against 0.5 core: 0.25/(1*0.5) = 50 %
		{"half quota", 250e6, 1e9, 0.5, 50},
		// 1.5 s in 1 s against 2 cores: 75 %
		{"two cores", 1.5e9, 1e9, 2, 75},
		// 600 ms in 1 s against 0.5: 120 % clamps to 100 (counters read apart)
		{"clamped", 600e6, 1e9, 0.5, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cgroupCPUPercent(tt.usageNs, tt.wall, tt.cores); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	if got := cgroupCPUPercent(1, 0, 1); !math.IsNaN(got) {
		t.Errorf("no wall time: got %v, want NaN", got)
	}
}

func TestEffectiveCores(t *testing.T) {
	tests := []struct {
		name          string
		quota, period int64
		cpuset, n     int
		want          float64
	}{
		{"no limits", -1, 100000, 0, 8, 8},
		// 50000/100000 = 0.5 < 4 < 8
		{"quota", 50000, 100000, 4, 8, 0.5},
		// quota 6 cores, cpuset 2 CPUs: 2
		{"cpuset", 600000, 100000, 2, 8, 2},
		// quota 16 cores on an 8-CPU machine: 8
		{"numcpu", 1600000, 100000, 0, 8, 8},
		// 150000/100000 = 1.5
		{"fraction", 150000, 100000, 2, 8, 1.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := effectiveCores(tt.quota, tt.period, tt.cpuset, tt.n); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTighterQuota(t *testing.T) {
	// none yet: take the first
	if q, p := tighterQuota(-1, 0, 50000, 100000); q != 50000 || p != 100000 {
		t.Errorf("got %d/%d", q, p)
	}
	// 25000/100000 = 0.25 beats 50000/100000 = 0.5, either order
	if q, p := tighterQuota(50000, 100000, 25000, 100000); q != 25000 || p != 100000 {
		t.Errorf("got %d/%d", q, p)
	}
	if q, p := tighterQuota(25000, 100000, 50000, 100000); q != 25000 || p != 100000 {
		t.Errorf("got %d/%d", q, p)
	}
}

func TestParseMemLimit(t *testing.T) {
	tests := []struct {
		in        string
		limit     uint64
		unlimited bool
		wantErr   string
	}{
		{"268435456\n", 268435456, false, ""},
		{"max\n", 0, true, ""},
		// v1's "no limit": 2^63 - 4096
		{"9223372036854771712\n", 0, true, ""},
		// 2^62 is the threshold itself
		{"4611686018427387904", 0, true, ""},
		{"4611686018427387903", 4611686018427387903, false, ""},
		{"lots", 0, false, "invalid limit"},
		{"-1", 0, false, "invalid limit"},
		{"", 0, false, "invalid limit"},
	}
	for _, tt := range tests {
		limit, unl, err := parseMemLimit([]byte(tt.in))
		checkErr(t, err, tt.wantErr)
		if limit != tt.limit || unl != tt.unlimited {
			t.Errorf("%q: got %d/%v, want %d/%v", tt.in, limit, unl, tt.limit, tt.unlimited)
		}
	}
}

func TestMemLimitApplies(t *testing.T) {
	const host = 8 << 30
	tests := []struct {
		name      string
		limit     uint64
		unlimited bool
		host      uint64
		want      bool
	}{
		{"below host", 512 << 20, false, host, true},
		{"unlimited", 0, true, host, false},
		{"equal to host", host, false, host, false},
		{"above host", 16 << 30, false, host, false},
		{"host unknown", 512 << 20, false, 0, true},
		{"zero", 0, false, host, false},
	}
	for _, tt := range tests {
		if got := memLimitApplies(tt.limit, tt.unlimited, tt.host); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestWorkingSet(t *testing.T) {
	// 128 MiB used, 32 MiB inactive file: 96 MiB
	if got := workingSet(128<<20, 32<<20); got != 96<<20 {
		t.Errorf("got %d", got)
	}
	// counters updated separately: inactive above usage reads 0, not a wrapped uint64
	if got := workingSet(10, 11); got != 0 {
		t.Errorf("got %d", got)
	}
}

func TestParseKeyed(t *testing.T) {
	stat := []byte("cache 10\ninactive_file 176128\ntotal_inactive_file 180224\nbad x\n")
	// the exact key, not a key that ends with it
	if v, err := parseKeyed(stat, "inactive_file"); err != nil || v != 176128 {
		t.Errorf("inactive_file: %d %v", v, err)
	}
	if v, err := parseKeyed(stat, "total_inactive_file"); err != nil || v != 180224 {
		t.Errorf("total_inactive_file: %d %v", v, err)
	}
	if _, err := parseKeyed(stat, "nope"); !errors.Is(err, errNoField) {
		t.Errorf("missing: %v", err)
	}
	if _, err := parseKeyed(stat, "bad"); err == nil || !strings.Contains(err.Error(), "invalid") {
		t.Errorf("garbage: %v", err)
	}
}

func TestParseCPUMax(t *testing.T) {
	tests := []struct {
		in            string
		quota, period int64
		wantErr       string
	}{
		{"50000 100000\n", 50000, 100000, ""},
		{"max 100000\n", -1, 100000, ""},
		{"fifty 100000", 0, 0, "invalid quota"},
		{"50000 0", 0, 0, "invalid period"},
		{"50000", 0, 0, "invalid cpu.max"},
		{"0 100000", 0, 0, "invalid quota"},
	}
	for _, tt := range tests {
		q, p, err := parseCPUMax([]byte(tt.in))
		checkErr(t, err, tt.wantErr)
		if q != tt.quota || p != tt.period {
			t.Errorf("%q: got %d/%d, want %d/%d", tt.in, q, p, tt.quota, tt.period)
		}
	}
}

func TestParseCPUList(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr string
	}{
		{"0-3\n", 4, ""},
		{"0", 1, ""},
		// 0-3 (4) + 6 (1) + 8-9 (2) = 7
		{"0-3,6,8-9", 7, ""},
		{"", 0, "empty"},
		{"a-b", 0, "invalid"},
		{"3-1", 0, "invalid"},
	}
	for _, tt := range tests {
		got, err := parseCPUList([]byte(tt.in))
		checkErr(t, err, tt.wantErr)
		if got != tt.want {
			t.Errorf("%q: got %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestParseProcCgroup(t *testing.T) {
	lines, err := parseProcCgroup([]byte("4:memory:/process_api/x\n3:cpu,cpuacct:/\n1:name=systemd:/\n0::/user.slice\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 4 || lines[0].path != "/process_api/x" || lines[0].controllers[0] != "memory" ||
		len(lines[1].controllers) != 2 || !lines[3].v2 || lines[3].path != "/user.slice" || lines[0].v2 {
		t.Errorf("got %+v", lines)
	}
	for _, bad := range []string{"", "garbage\n", "4:memory\n", "4:memory:relative\n"} {
		if _, err := parseProcCgroup([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseMountinfo(t *testing.T) {
	in := "26 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n" +
		"31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:10 master:2 - cgroup cgroup rw,cpu,cpuacct\n" +
		"40 26 0:40 /vol /mnt/my\\040data rw - ext4 /dev/vdb rw\n"
	ms, err := parseMountinfo([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 3 {
		t.Fatalf("got %d mounts", len(ms))
	}
	// optional fields (shared:10 master:2) are skipped up to the "-"
	if m := ms[1]; m.fstype != "cgroup" || m.point != "/sys/fs/cgroup/cpu,cpuacct" || !hasOpt(m.superOpts, "cpuacct") {
		t.Errorf("cgroup mount: %+v", m)
	}
	// \040 is a space
	if m := ms[2]; m.point != "/mnt/my data" || m.root != "/vol" || m.id != 40 {
		t.Errorf("escaped mount: %+v", m)
	}
	for _, bad := range []string{"", "1 2 3\n", "x 0 0:1 / / rw - ext4 /dev/x rw\n", "1 0 0:1 / / rw ext4 /dev/x rw\n"} {
		if _, err := parseMountinfo([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestCgroupDir(t *testing.T) {
	exists := func(set ...string) func(string) bool {
		return func(p string) bool {
			for _, s := range set {
				if s == p {
					return true
				}
			}
			return false
		}
	}
	mem := mountEntry{root: "/", point: "/sys/fs/cgroup/memory"}
	tests := []struct {
		name   string
		m      mountEntry
		path   string
		exists func(string) bool
		want   string
	}{
		// this machine: nested v1 path under a root mount
		{"nested", mem, "/process_api/x", exists("/sys/fs/cgroup/memory/process_api/x"), "/sys/fs/cgroup/memory/process_api/x"},
		// a container at the root of its namespace: "/" is the mount point
		{"namespaced root", mountEntry{root: "/", point: "/sys/fs/cgroup"}, "/", exists(), "/sys/fs/cgroup"},
		// old Docker: the mount's root is the container's cgroup
		{"mount root is the cgroup", mountEntry{root: "/docker/ab", point: "/sys/fs/cgroup/memory"}, "/docker/ab", exists(), "/sys/fs/cgroup/memory"},
		// below the mount's root
		{"below mount root", mountEntry{root: "/docker/ab", point: "/sys/fs/cgroup/memory"}, "/docker/ab/sub", exists("/sys/fs/cgroup/memory/sub"), "/sys/fs/cgroup/memory/sub"},
		// a host path the container cannot see: its files are at the mount point
		{"foreign path", mountEntry{root: "/", point: "/sys/fs/cgroup"}, "/kubepods/pod/c", exists(), "/sys/fs/cgroup"},
		// a cgroup namespace entered from outside shows "/.."
		{"outside namespace", mountEntry{root: "/", point: "/sys/fs/cgroup"}, "/../sibling", exists(), "/sys/fs/cgroup"},
		// path not under the mount's root at all
		{"other root", mountEntry{root: "/lxc/a", point: "/sys/fs/cgroup/memory"}, "/lxc/b", exists("/sys/fs/cgroup/memory/lxc/b"), "/sys/fs/cgroup/memory"},
	}
	for _, tt := range tests {
		if got := cgroupDir(tt.m, tt.path, tt.exists); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestAncestors(t *testing.T) {
	got := ancestors(cgroupLoc{dir: "/sys/fs/cgroup/a/b", mount: "/sys/fs/cgroup"})
	want := []string{"/sys/fs/cgroup/a/b", "/sys/fs/cgroup/a", "/sys/fs/cgroup"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := ancestors(cgroupLoc{dir: "/sys/fs/cgroup", mount: "/sys/fs/cgroup"}); len(got) != 1 {
		t.Errorf("at the mount: got %v", got)
	}
}

func TestLocateCgroupsHybrid(t *testing.T) {
	lines, _ := parseProcCgroup([]byte("4:memory:/a\n3:cpu,cpuacct:/b\n2:cpuset:/\n0::/c\n"))
	mounts, _ := parseMountinfo([]byte(
		"31 30 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n" +
			"32 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n" +
			"35 30 0:32 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"))
	lay := locateCgroups(lines, mounts, func(string) bool { return true })
	if lay.memory.dir != "/sys/fs/cgroup/memory/a" || lay.cpu.dir != "/sys/fs/cgroup/cpu,cpuacct/b" ||
		lay.cpuacct.dir != lay.cpu.dir || lay.v2.dir != "/sys/fs/cgroup/unified/c" || lay.v2.mount != "/sys/fs/cgroup/unified" {
		t.Errorf("got %+v", lay)
	}
	// cpuset is listed but not mounted: not found
	if lay.cpuset.dir != "" {
		t.Errorf("cpuset: %+v", lay.cpuset)
	}
}

func TestLoadUptimeStatm(t *testing.T) {
	l1, l5, l15, err := parseLoadavg([]byte("1.50 0.82 0.35 4/161 10146\n"))
	if err != nil || l1 != 1.5 || l5 != 0.82 || l15 != 0.35 {
		t.Errorf("loadavg: %v %v %v %v", l1, l5, l15, err)
	}
	for _, bad := range []string{"", "1 2", "a b c", "-1 0 0"} {
		if _, _, _, err := parseLoadavg([]byte(bad)); err == nil {
			t.Errorf("loadavg %q: no error", bad)
		}
	}
	if up, err := parseUptime([]byte("312.44 366.77\n")); err != nil || up != 312.44 {
		t.Errorf("uptime: %v %v", up, err)
	}
	if _, err := parseUptime([]byte("x")); err == nil {
		t.Error("uptime garbage: no error")
	}
	// 443 pages * 4096 = 1814528
	if rss, err := parseStatmRSS([]byte("765 443 415 5 0 123 0\n"), 4096); err != nil || rss != 1814528 {
		t.Errorf("statm: %v %v", rss, err)
	}
	if _, err := parseStatmRSS([]byte("765"), 4096); err == nil {
		t.Error("statm short: no error")
	}
}

func TestNetDev(t *testing.T) {
	in := "Inter-|   Receive                                                |  Transmit\n" +
		" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n" +
		"    lo:   54199     613    0    0    0     0          0         0    54199     613    0    0    0     0       0          0\n" +
		"  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n" +
		"  eth1: 500 5 0 0 0 0 0 0 700 7 0 0 0 0 0 0\n"
	prev, err := parseNetDev([]byte(in))
	if err != nil || len(prev) != 2 || prev[0].name != "eth0" || prev[0].rx != 1000 || prev[0].tx != 2000 {
		t.Fatalf("got %+v %v", prev, err)
	}
	cur := []ifaceCounters{
		{"eth0", 3000, 2500}, // +2000 rx, +500 tx
		{"eth1", 100, 800},   // rx went backwards: re-created, ignored
		{"eth2", 9999, 9999}, // new: no baseline, ignored
	}
	// over 2 s: rx 2000/2 = 1000 B/s, tx 500/2 = 250 B/s
	rx, tx := netRates(prev, cur, 2)
	if rx != 1000 || tx != 250 {
		t.Errorf("rates: %v %v", rx, tx)
	}
	if _, err := parseNetDev([]byte("eth0: 1 2 3\n")); err == nil {
		t.Error("short line: no error")
	}
	if _, err := parseNetDev([]byte("eth0: a 0 0 0 0 0 0 0 b 0 0 0 0 0 0 0\n")); err == nil {
		t.Error("garbage: no error")
	}
}

func TestMedian(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		in   []time.Duration
		want time.Duration
	}{
		// the first sample pays a prepare or a connect; the median ignores it
		{[]time.Duration{9 * ms, 1 * ms, 2 * ms}, 2 * ms},
		{[]time.Duration{3 * ms}, 3 * ms},
		// even count: mean of the middle two, (2+4)/2 = 3
		{[]time.Duration{4 * ms, 1 * ms, 2 * ms, 8 * ms}, 3 * ms},
		{nil, -1},
	}
	for _, tt := range tests {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
	// the input is not reordered
	in := []time.Duration{3, 1, 2}
	median(in)
	if in[0] != 3 {
		t.Error("median sorted its input")
	}
}

func TestRedact(t *testing.T) {
	msg := "failed to connect to `user=app database=prod`: postgres://app:s3cret@db:5432/prod password=hunter2\nsecond line"
	got := redact(msg)
	for _, leak := range []string{"s3cret", "hunter2", "postgres://", "user=app", "second line"} {
		if strings.Contains(got, leak) {
			t.Errorf("redact kept %q: %s", leak, got)
		}
	}
	if got := redact(strings.Repeat("x", 500)); len(got) > 170 {
		t.Errorf("not bounded: %d", len(got))
	}
}

func TestRedisInfoField(t *testing.T) {
	info := "# Clients\r\nconnected_clients:7\r\nblocked_clients:0\r\n# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\n"
	if v, err := redisInfoField(info, "connected_clients"); err != nil || v != 7 {
		t.Errorf("connected_clients: %v %v", v, err)
	}
	if v, err := redisInfoField(info, "used_memory"); err != nil || v != 1048576 {
		t.Errorf("used_memory: %v %v", v, err)
	}
	if _, err := redisInfoField(info, "used_memory_human"); err == nil {
		t.Error("non-number: no error")
	}
	if _, err := redisInfoField(info, "nope"); err == nil {
		t.Error("missing: no error")
	}
}

func TestParseHTTPTargets(t *testing.T) {
	got, err := ParseHTTPTargets("api=http://app.internal/health, web=https://example.org/?token=x")
	if err != nil || len(got) != 2 || got[0].Name != "api" || got[0].URL != "http://app.internal/health" || got[1].Name != "web" {
		t.Fatalf("got %+v %v", got, err)
	}
	if got, err := ParseHTTPTargets("  "); err != nil || len(got) != 0 {
		t.Errorf("empty: %+v %v", got, err)
	}
	for _, bad := range []string{"api", "=http://x/", "a=ftp://x/", "a=/relative", "a=http://x/,a=http://y/"} {
		if _, err := ParseHTTPTargets(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if got := displayURL("https://user:pw@example.org/health?token=secret#x"); got != "https://example.org/health" {
		t.Errorf("displayURL: %q", got)
	}
}

func TestDiskKindAndMount(t *testing.T) {
	for fstype, want := range map[string]string{
		"overlay": DiskKindOverlay, "tmpfs": DiskKindTmpfs, "ext4": DiskKindDisk, "xfs": DiskKindDisk,
		"nfs4": DiskKindNetwork, "fuse.sshfs": DiskKindNetwork, "": "",
	} {
		if got := diskKind(fstype); got != want {
			t.Errorf("diskKind(%q) = %q, want %q", fstype, got, want)
		}
	}
	mounts := []mountEntry{
		{id: 1, point: "/", fstype: "overlay"},
		{id: 2, point: "/data", fstype: "ext4"},
		{id: 3, point: "/data", fstype: "xfs"}, // mounted over the first /data
		{id: 4, point: "/datax", fstype: "tmpfs"},
	}
	for path, want := range map[string]int{"/": 1, "/etc": 1, "/data": 3, "/data/db": 3, "/datax/y": 4, "/dat": 1} {
		if m, ok := mountOf(mounts, path); !ok || m.id != want {
			t.Errorf("mountOf(%q) = %d, want %d", path, m.id, want)
		}
	}
}

// checkErr fails t unless err matches want ("" means no error).
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Errorf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("error %q does not contain %q", err, want)
	}
}
