package probes

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// ProcessProbe reports vitals' own footprint: resident memory, goroutines
// and uptime, so that the monitor can be seen not to be the load.
type ProcessProbe struct {
	fs       sysfs
	started  time.Time
	pageSize int
}

// NewProcessProbe returns the probe of the "process" group.
func NewProcessProbe(cfg HostConfig) *ProcessProbe {
	started := cfg.Started
	if started.IsZero() {
		started = time.Now()
	}
	return &ProcessProbe{fs: newSysfs(cfg.Root), started: started, pageSize: os.Getpagesize()}
}

// Name returns "process".
func (p *ProcessProbe) Name() string { return "process" }

// Read returns the process group. RSS comes from /proc/self/statm, which costs
// one small read, rather than runtime.ReadMemStats, which stops the world.
func (p *ProcessProbe) Read(_ context.Context) Result {
	raw, err := p.fs.read("/proc/self/statm")
	var rss uint64
	if err == nil {
		rss, err = parseStatmRSS(raw, p.pageSize)
	}
	if err != nil {
		return Process{Status: StatusUnavailable, Reason: redact(fileError(SourceHost, "/proc/self/statm", err).Error())}
	}
	out := Process{
		Status:        StatusOK,
		RSSBytes:      ptr(rss),
		Goroutines:    ptr(int64(runtime.NumGoroutine())),
		UptimeSeconds: fptr(round(time.Since(p.started).Seconds(), 3)),
	}
	// CPU time and address space come from one more small read; without
	// it (a fixture tree, a hardened /proc) the rest still stands.
	if raw, err := p.fs.read("/proc/self/stat"); err == nil {
		if st, err := parseSelfStat(raw); err == nil {
			out.CPUSecondsTotal = fptr(round(st.cpuSeconds, 2))
			out.VirtualMemoryBytes = ptr(st.vsizeBytes)
		}
	}
	if n, err := p.fs.countDir("/proc/self/fd"); err == nil {
		out.OpenFDs = ptr(n)
	}
	if raw, err := p.fs.read("/proc/self/limits"); err == nil {
		if n, ok := parseMaxOpenFiles(raw); ok {
			out.MaxFDs = ptr(n)
		}
	}
	return out
}

// parseMaxOpenFiles reads the soft limit from /proc/self/limits' "Max open
// files" line; false when it is missing or "unlimited".
func parseMaxOpenFiles(raw []byte) (uint64, bool) {
	for line := range strings.Lines(string(raw)) {
		rest, ok := strings.CutPrefix(line, "Max open files")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0, false
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		return n, err == nil
	}
	return 0, false
}
