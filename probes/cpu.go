package probes

import (
	"context"
	"errors"
	"path"
	"sync"
	"time"
)

// CPUProbe reports CPU usage as the delta between its previous reading and
// this one, so it never sleeps to measure. In a cgroup whose quota or
// cpuset limits it below the machine's CPUs, usage is the cgroup's own
// counter against its effective cores; otherwise it is /proc/stat.
type CPUProbe struct {
	fs     sysfs
	numCPU int
	now    func() time.Time

	// mu guards prev: the delta state lives on the probe, and a manual
	// Tick may overlap the background one.
	mu   sync.Mutex
	prev cpuReading
	have bool
}

// NewCPUProbe returns the probe of the "cpu" group. Its first Read
// only records a baseline and reports "warming up".
func NewCPUProbe(cfg HostConfig) *CPUProbe {
	return &CPUProbe{fs: newSysfs(cfg.Root), numCPU: cfg.numCPU(), now: time.Now}
}

// Name returns "cpu".
func (p *CPUProbe) Name() string { return "cpu" }

// Read returns the cpu group.
func (p *CPUProbe) Read(_ context.Context) Result {
	cur, err := p.fs.cpuReading(p.numCPU, p.now())
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.have = false
		return CPU{Status: StatusUnavailable, Reason: redact(err.Error())}
	}
	if !p.have {
		p.prev, p.have = cur, true
		return CPU{Status: StatusUnavailable, Reason: reasonWarmingUp, Source: cur.source}
	}
	c, v := cpuBetween(p.prev, cur)
	switch v {
	case cpuTooSoon:
		// Keep the older baseline so the next reading spans more time.
		return CPU{Status: StatusUnavailable, Reason: reasonWarmingUp, Source: cur.source}
	case cpuRebase:
		p.prev = cur
		return CPU{Status: StatusUnavailable, Reason: reasonWarmingUp, Source: cur.source}
	}
	p.prev = cur
	return c
}

// cpuReading is one reading of the counters CPU % is computed from.
type cpuReading struct {
	source string
	cores  float64
	host   hostCPUTimes // source host
	// source cgroup: cumulative CPU time used and when it was read
	usageNs uint64
	at      time.Time
	// throttling counters, when the cgroup has them
	throttle                        bool
	periods, throttled, throttledNs uint64
}

// cpuVerdict says whether two readings gave a figure.
type cpuVerdict int

const (
	cpuOK      cpuVerdict = iota
	cpuTooSoon            // no time (or no clock tick) between them
	cpuRebase             // not comparable: source changed or counter reset
)

// cpuBetween computes the CPU group from two readings.
func cpuBetween(prev, cur cpuReading) (CPU, cpuVerdict) {
	if prev.source != cur.source {
		return CPU{}, cpuRebase
	}
	c := CPU{Status: StatusOK, Source: cur.source, Cores: fptr(round(cur.cores, 3))}
	if cur.source == SourceHost {
		switch {
		case cur.host.total < prev.host.total || cur.host.idle < prev.host.idle:
			return CPU{}, cpuRebase
		case cur.host.total == prev.host.total:
			// /proc/stat counts in clock ticks (10 ms): readings
			// closer than that can be equal.
			return CPU{}, cpuTooSoon
		}
		pct, _ := hostCPUPercent(prev.host, cur.host)
		c.Percent = fptr(pct)
		c.UsageSecondsTotal = fptr(round(float64(cur.host.total-cur.host.idle)/userHZ, 2))
		return c, cpuOK
	}
	wall := cur.at.Sub(prev.at)
	switch {
	case cur.usageNs < prev.usageNs:
		return CPU{}, cpuRebase
	case wall <= 0:
		return CPU{}, cpuTooSoon
	}
	c.Percent = fptr(cgroupCPUPercent(cur.usageNs-prev.usageNs, uint64(wall), cur.cores))
	c.UsageSecondsTotal = fptr(round(float64(cur.usageNs)/1e9, 6))
	if cur.throttle {
		c.ThrottledPeriodsTotal = ptr(cur.throttled)
		c.ThrottledMSTotal = fptr(round(float64(cur.throttledNs)/1e6, 3))
		if prev.throttle && cur.periods >= prev.periods && cur.throttled >= prev.throttled {
			dp, dt := cur.periods-prev.periods, cur.throttled-prev.throttled
			if dp == 0 {
				// No CFS period elapsed: the cgroup was idle, so
				// nothing was throttled.
				c.ThrottledPercent = ptr(0.0)
			} else {
				c.ThrottledPercent = fptr(percent(float64(dt), float64(dp)))
			}
		}
	}
	return c, cpuOK
}

// cpuLimit is the CPU the process may use and which cgroup version says so.
type cpuLimit struct {
	cores   float64
	source  string
	limited bool
	lay     cgroupLayout
}

// cpuLimit finds the effective cores: min(quota/period, cpuset size,
// numCPU) from the cgroup that holds the cpu controller (v1 first, as for
// memory). Quotas are read up to the mount's root because a parent's
// quota caps its children.
func (f sysfs) cpuLimit(numCPU int) (cpuLimit, error) {
	host := cpuLimit{cores: float64(numCPU), source: SourceHost}
	lay, err := f.cgroups()
	if err != nil {
		return host, nil
	}
	var q quotaSet
	var src string
	switch {
	case lay.cpu.dir != "":
		src = SourceCgroupV1
		q, err = f.cpuQuotaV1(lay)
	case lay.v2.dir != "":
		src = SourceCgroupV2
		q, err = f.cpuQuotaV2(lay)
	default:
		return host, nil
	}
	if err != nil {
		return host, err
	}
	cores := effectiveCores(q.quota, q.period, q.cpuset, numCPU)
	if cores >= float64(numCPU) {
		host.lay = lay
		return host, nil
	}
	return cpuLimit{cores: cores, source: src, limited: true, lay: lay}, nil
}

// quotaSet is what a cgroup hierarchy says about CPU: the tightest quota
// over its period (quota -1 for none) and the cpuset size (0 for none).
type quotaSet struct {
	quota, period int64
	cpuset        int
}

// cpuQuotaV1 reads cpu.cfs_quota_us and cpu.cfs_period_us up the cpu
// controller's hierarchy, and the cpuset controller's CPUs.
func (f sysfs) cpuQuotaV1(lay cgroupLayout) (quotaSet, error) {
	const src = SourceCgroupV1
	qs := quotaSet{quota: -1}
	for _, d := range ancestors(lay.cpu) {
		q, per, err := f.cfsQuotaV1(d)
		if err != nil {
			return qs, err
		}
		if q > 0 {
			qs.quota, qs.period = tighterQuota(qs.quota, qs.period, q, per)
		}
	}
	if lay.cpuset.dir != "" {
		n, err := f.cpusetSize(src, lay.cpuset.dir, "cpuset.effective_cpus", "cpuset.cpus")
		if err != nil {
			return qs, err
		}
		qs.cpuset = n
	}
	return qs, nil
}

// cfsQuotaV1 reads one v1 directory's quota and period; quota <= 0 when
// the directory sets none.
func (f sysfs) cfsQuotaV1(d string) (quota, period int64, err error) {
	const src = SourceCgroupV1
	qf := path.Join(d, "cpu.cfs_quota_us")
	raw, err := f.read(qf)
	if isNotExist(err) {
		return -1, 0, nil
	}
	if err != nil {
		return 0, 0, fileError(src, qf, err)
	}
	q, err := parseInt(raw)
	if err != nil {
		return 0, 0, fileError(src, qf, err)
	}
	if q <= 0 { // -1: no quota at this level
		return -1, 0, nil
	}
	pf := path.Join(d, "cpu.cfs_period_us")
	raw, err = f.read(pf)
	if err != nil {
		return 0, 0, fileError(src, pf, err)
	}
	per, err := parseInt(raw)
	if err == nil && per <= 0 {
		err = errors.New("period is not positive")
	}
	if err != nil {
		return 0, 0, fileError(src, pf, err)
	}
	return q, per, nil
}

// cpuQuotaV2 reads cpu.max up the unified hierarchy, and the cgroup's
// effective CPUs.
func (f sysfs) cpuQuotaV2(lay cgroupLayout) (quotaSet, error) {
	const src = SourceCgroupV2
	qs := quotaSet{quota: -1}
	for _, d := range ancestors(lay.v2) {
		mf := path.Join(d, "cpu.max")
		raw, err := f.read(mf)
		if isNotExist(err) {
			continue
		}
		if err != nil {
			return qs, fileError(src, mf, err)
		}
		q, per, err := parseCPUMax(raw)
		if err != nil {
			return qs, fileError(src, mf, err)
		}
		if q > 0 {
			qs.quota, qs.period = tighterQuota(qs.quota, qs.period, q, per)
		}
	}
	n, err := f.cpusetSize(src, lay.v2.dir, "cpuset.cpus.effective")
	if err != nil {
		return qs, err
	}
	qs.cpuset = n
	return qs, nil
}

// tighterQuota keeps whichever of two quota/period pairs allows less CPU.
func tighterQuota(q1, p1, q2, p2 int64) (int64, int64) {
	if q1 <= 0 || float64(q2)/float64(p2) < float64(q1)/float64(p1) {
		return q2, p2
	}
	return q1, p1
}

// cpusetSize counts the CPUs in the first of files that exists in dir; 0
// when none does (no cpuset controller here).
func (f sysfs) cpusetSize(src, dir string, files ...string) (int, error) {
	for _, name := range files {
		file := path.Join(dir, name)
		raw, err := f.read(file)
		if isNotExist(err) {
			continue
		}
		if err != nil {
			return 0, fileError(src, file, err)
		}
		n, err := parseCPUList(raw)
		if err != nil {
			return 0, fileError(src, file, err)
		}
		return n, nil
	}
	return 0, nil
}

// cpuReading reads the counters that apply at time now.
func (f sysfs) cpuReading(numCPU int, now time.Time) (cpuReading, error) {
	lim, err := f.cpuLimit(numCPU)
	if err != nil {
		return cpuReading{}, err
	}
	r := cpuReading{source: lim.source, cores: lim.cores, at: now}
	switch lim.source {
	case SourceHost:
		raw, err := f.read("/proc/stat")
		if err != nil {
			return cpuReading{}, fileError(SourceHost, "/proc/stat", err)
		}
		if r.host, err = parseProcStat(raw); err != nil {
			return cpuReading{}, fileError(SourceHost, "/proc/stat", err)
		}
	case SourceCgroupV1:
		if lim.lay.cpuacct.dir == "" {
			return cpuReading{}, errors.New("cgroup v1: cpuacct controller not mounted")
		}
		file := path.Join(lim.lay.cpuacct.dir, "cpuacct.usage")
		raw, err := f.read(file)
		if err != nil {
			return cpuReading{}, fileError(lim.source, file, err)
		}
		if r.usageNs, err = parseUintFile(raw); err != nil {
			return cpuReading{}, fileError(lim.source, file, err)
		}
		// Throttling counters are a bonus: their absence does not make
		// the CPU figure unavailable.
		if stat, err := f.read(path.Join(lim.lay.cpu.dir, "cpu.stat")); err == nil {
			r.readThrottle(stat, "throttled_time", 1)
		}
	case SourceCgroupV2:
		file := path.Join(lim.lay.v2.dir, "cpu.stat")
		stat, err := f.read(file)
		if err != nil {
			return cpuReading{}, fileError(lim.source, file, err)
		}
		usec, err := parseKeyed(stat, "usage_usec")
		if err != nil {
			return cpuReading{}, fileError(lim.source, file, err)
		}
		r.usageNs = usec * 1000
		r.readThrottle(stat, "throttled_usec", 1000)
	}
	return r, nil
}

// readThrottle takes nr_periods, nr_throttled and the throttled time
// (timeKey, in units of unitNs nanoseconds) from a cpu.stat, if all three
// are there; v2 has them only where the cpu controller is enabled.
func (r *cpuReading) readThrottle(stat []byte, timeKey string, unitNs uint64) {
	periods, err1 := parseKeyed(stat, "nr_periods")
	throttled, err2 := parseKeyed(stat, "nr_throttled")
	t, err3 := parseKeyed(stat, timeKey)
	if err1 != nil || err2 != nil || err3 != nil {
		return
	}
	r.throttle, r.periods, r.throttled, r.throttledNs = true, periods, throttled, t*unitNs
}
