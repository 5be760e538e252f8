package probes

import (
	"context"
	"sync"
	"time"
)

// NetworkProbe reports bytes received and sent per second over the last
// interval, loopback excluded (vitals talking to a local database is not
// traffic). The counters are the network namespace's: in a container,
// the container's own interfaces.
type NetworkProbe struct {
	fs  sysfs
	now func() time.Time

	mu   sync.Mutex
	prev []ifaceCounters
	at   time.Time
	have bool
}

// NewNetworkProbe returns the probe of the "network" group. Its first
// Read records a baseline and reports "warming up".
func NewNetworkProbe(cfg HostConfig) *NetworkProbe {
	return &NetworkProbe{fs: newSysfs(cfg.Root), now: time.Now}
}

// Name returns "network".
func (p *NetworkProbe) Name() string { return "network" }

// Read returns the network group.
func (p *NetworkProbe) Read(_ context.Context) Result {
	now := p.now()
	raw, err := p.fs.read("/proc/net/dev")
	var cur []ifaceCounters
	if err == nil {
		cur, err = parseNetDev(raw)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.have = false
		return Network{Status: StatusUnavailable, Reason: redact(fileError(SourceHost, "/proc/net/dev", err).Error())}
	}
	prev, at, had := p.prev, p.at, p.have
	p.prev, p.at, p.have = cur, now, true
	secs := now.Sub(at).Seconds()
	if !had || secs <= 0 {
		return Network{Status: StatusUnavailable, Reason: reasonWarmingUp, Source: SourceHost}
	}
	rx, tx := netRates(prev, cur, secs)
	var rxTotal, txTotal uint64
	for _, c := range cur {
		rxTotal += c.rx
		txTotal += c.tx
	}
	return Network{
		ReceiveBytesTotal:      ptr(rxTotal),
		TransmitBytesTotal:     ptr(txTotal),
		Status:                 StatusOK,
		ReceiveBytesPerSecond:  fptr(rx),
		TransmitBytesPerSecond: fptr(tx),
		Interfaces:             ptr(int64(len(cur))),
		Source:                 SourceHost,
	}
}
