package probes

import "context"

// LoadProbe reports the load averages, per effective core too, and the
// host's uptime: what uptime(1) prints, made comparable across machine
// sizes and container quotas.
type LoadProbe struct {
	fs     sysfs
	numCPU int
}

// NewLoadProbe returns the probe of the "load" group.
func NewLoadProbe(cfg HostConfig) *LoadProbe {
	return &LoadProbe{fs: newSysfs(cfg.Root), numCPU: cfg.numCPU()}
}

// Name returns "load".
func (p *LoadProbe) Name() string { return "load" }

// Read returns the load group. The load average is the kernel's, host-wide even
// in a container; dividing it by the container's effective cores says how
// crowded the machine is for the share this process may use.
func (p *LoadProbe) Read(_ context.Context) Result {
	raw, err := p.fs.read("/proc/loadavg")
	if err != nil {
		return Load{Status: StatusUnavailable, Reason: redact(fileError(SourceHost, "/proc/loadavg", err).Error())}
	}
	l1, l5, l15, err := parseLoadavg(raw)
	if err != nil {
		return Load{Status: StatusUnavailable, Reason: redact(fileError(SourceHost, "/proc/loadavg", err).Error())}
	}
	raw, err = p.fs.read("/proc/uptime")
	var up float64
	if err == nil {
		up, err = parseUptime(raw)
	}
	if err != nil {
		return Load{Status: StatusUnavailable, Reason: redact(fileError(SourceHost, "/proc/uptime", err).Error())}
	}
	lim, err := p.fs.cpuLimit(p.numCPU)
	if err != nil {
		return Load{Status: StatusUnavailable, Reason: redact(err.Error())}
	}
	if lim.cores <= 0 {
		return Load{Status: StatusUnavailable, Reason: "no effective cores"}
	}
	per := func(v float64) *float64 { return fptr(round(v/lim.cores, 2)) }
	return Load{
		Status:            StatusOK,
		Load1:             fptr(l1),
		Load5:             fptr(l5),
		Load15:            fptr(l15),
		Cores:             fptr(round(lim.cores, 3)),
		Load1PerCore:      per(l1),
		Load5PerCore:      per(l5),
		Load15PerCore:     per(l15),
		HostUptimeSeconds: fptr(up),
		Source:            SourceHost,
	}
}
