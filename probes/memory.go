package probes

import (
	"context"
	"path"
)

// MemoryProbe reports memory in use against the limit that applies: the
// cgroup's memory limit when one is set below the host's memory, else the
// host's MemTotal.
type MemoryProbe struct {
	fs sysfs
}

// NewMemoryProbe returns the probe of the "memory" group.
func NewMemoryProbe(cfg HostConfig) *MemoryProbe {
	return &MemoryProbe{fs: newSysfs(cfg.Root)}
}

// Name returns "memory".
func (p *MemoryProbe) Name() string { return "memory" }

// Read returns the memory group.
func (p *MemoryProbe) Read(_ context.Context) Result {
	m, err := p.fs.memory()
	if err != nil {
		return Memory{Status: StatusUnavailable, Reason: redact(err.Error())}
	}
	return Memory{
		Status:     StatusOK,
		Percent:    fptr(percent(float64(m.used), float64(m.total))),
		UsedBytes:  ptr(m.used),
		TotalBytes: ptr(m.total),
		Source:     m.source,
	}
}

// memFigures is memory used against a total, and where both came from.
type memFigures struct {
	used, total uint64
	source      string
}

// memory finds the figures that apply: a cgroup limit (v1 first, because
// on a hybrid system the v2 tree has no memory controller) and otherwise
// the host. A missing cgroup file means "no such limit here"; a file that
// is there but unreadable or garbled makes the group unavailable, because
// falling back to the host would then report the wrong total as if right.
func (f sysfs) memory() (memFigures, error) {
	raw, hostErr := f.read("/proc/meminfo")
	var hostTotal, hostAvail uint64
	if hostErr == nil {
		hostTotal, hostAvail, hostErr = parseMeminfo(raw)
	}
	host := func() (memFigures, error) {
		if hostErr != nil {
			return memFigures{}, fileError(SourceHost, "/proc/meminfo", hostErr)
		}
		// MemTotal - MemAvailable: what free(1) calls used, page cache
		// the kernel can reclaim not counted.
		return memFigures{used: hostTotal - hostAvail, total: hostTotal, source: SourceHost}, nil
	}

	lay, err := f.cgroups()
	if err != nil {
		// No /proc/self/cgroup or mountinfo to read: not Linux, or a
		// sandbox that hides them; the host figure is all there is.
		return host()
	}
	if lay.memory.dir != "" {
		m, applies, err := f.memoryV1(lay.memory, hostTotal)
		if err != nil {
			return memFigures{}, err
		}
		if applies {
			return m, nil
		}
		return host()
	}
	if lay.v2.dir != "" {
		m, applies, err := f.memoryV2(lay.v2, hostTotal)
		if err != nil {
			return memFigures{}, err
		}
		if applies {
			return m, nil
		}
	}
	return host()
}

// memoryV1 reads a cgroup v1 memory controller. The limit is the smaller
// of the cgroup's own and hierarchical_memory_limit, which covers limits
// set on enclosing cgroups.
func (f sysfs) memoryV1(loc cgroupLoc, hostTotal uint64) (memFigures, bool, error) {
	const src = SourceCgroupV1
	file := path.Join(loc.dir, "memory.limit_in_bytes")
	raw, err := f.read(file)
	if isNotExist(err) {
		return memFigures{}, false, nil
	}
	if err != nil {
		return memFigures{}, false, fileError(src, file, err)
	}
	limit, unlimited, err := parseMemLimit(raw)
	if err != nil {
		return memFigures{}, false, fileError(src, file, err)
	}
	statFile := path.Join(loc.dir, "memory.stat")
	stat, err := f.read(statFile)
	if err != nil {
		return memFigures{}, false, fileError(src, statFile, err)
	}
	if h, err := parseKeyed(stat, "hierarchical_memory_limit"); err == nil && h < unlimitedThreshold {
		if unlimited || h < limit {
			limit, unlimited = h, false
		}
	}
	if !memLimitApplies(limit, unlimited, hostTotal) {
		return memFigures{}, false, nil
	}
	usageFile := path.Join(loc.dir, "memory.usage_in_bytes")
	raw, err = f.read(usageFile)
	if err != nil {
		return memFigures{}, false, fileError(src, usageFile, err)
	}
	usage, err := parseUintFile(raw)
	if err != nil {
		return memFigures{}, false, fileError(src, usageFile, err)
	}
	// total_ counts the cgroup's descendants too, as usage_in_bytes does.
	inactive, err := parseKeyed(stat, "total_inactive_file")
	if err != nil {
		if inactive, err = parseKeyed(stat, "inactive_file"); err != nil {
			return memFigures{}, false, fileError(src, statFile, err)
		}
	}
	return memFigures{used: workingSet(usage, inactive), total: limit, source: src}, true, nil
}

// memoryV2 reads a cgroup v2 memory controller. The limit is the smallest
// memory.max from the cgroup up to the mount's root; no memory.max at all
// means the memory controller is not enabled here.
func (f sysfs) memoryV2(loc cgroupLoc, hostTotal uint64) (memFigures, bool, error) {
	const src = SourceCgroupV2
	var limit uint64
	found, limited := false, false
	for _, d := range ancestors(loc) {
		file := path.Join(d, "memory.max")
		raw, err := f.read(file)
		if isNotExist(err) {
			continue
		}
		if err != nil {
			return memFigures{}, false, fileError(src, file, err)
		}
		l, unlimited, err := parseMemLimit(raw)
		if err != nil {
			return memFigures{}, false, fileError(src, file, err)
		}
		found = true
		if !unlimited && (!limited || l < limit) {
			limit, limited = l, true
		}
	}
	if !found || !memLimitApplies(limit, !limited, hostTotal) {
		return memFigures{}, false, nil
	}
	curFile := path.Join(loc.dir, "memory.current")
	raw, err := f.read(curFile)
	if err != nil {
		return memFigures{}, false, fileError(src, curFile, err)
	}
	usage, err := parseUintFile(raw)
	if err != nil {
		return memFigures{}, false, fileError(src, curFile, err)
	}
	statFile := path.Join(loc.dir, "memory.stat")
	stat, err := f.read(statFile)
	if err != nil {
		return memFigures{}, false, fileError(src, statFile, err)
	}
	inactive, err := parseKeyed(stat, "inactive_file")
	if err != nil {
		return memFigures{}, false, fileError(src, statFile, err)
	}
	return memFigures{used: workingSet(usage, inactive), total: limit, source: src}, true, nil
}
