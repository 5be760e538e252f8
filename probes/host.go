package probes

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"runtime"
	"time"
)

// HostConfig configures the probes that read the machine: CPU, memory,
// disks, load, network and vitals' own process.
type HostConfig struct {
	// Root is the directory below which /proc and /sys are read; "" means
	// "/". Tests point it at fixture trees under testdata/.
	Root string
	// NumCPU is how many CPUs the process may run on; 0 means
	// runtime.NumCPU() (which honours the CPU affinity mask).
	NumCPU int
	// DiskPaths are the paths whose filesystems the disk group reports;
	// nil means "/" plus DataDir. Paths on one mount are reported once.
	DiskPaths []string
	// DataDir is the directory holding the SQLite file, "" when the store
	// is PostgreSQL; its filesystem is reported and flagged data.
	DataDir string
	// Started is when the process started, for the process uptime; zero
	// means when the probe was made.
	Started time.Time
}

func (c HostConfig) numCPU() int {
	if c.NumCPU > 0 {
		return c.NumCPU
	}
	return runtime.NumCPU()
}

// HostProbes returns the probes of every host group (cpu, memory, disk,
// load, network, process) made from one configuration.
func HostProbes(cfg HostConfig) []Probe {
	return []Probe{
		NewCPUProbe(cfg),
		NewMemoryProbe(cfg),
		NewDiskProbe(cfg),
		NewLoadProbe(cfg),
		NewNetworkProbe(cfg),
		NewProcessProbe(cfg),
	}
}

// fileError names the file that failed by its base name and drops the
// absolute path from the error, so that a reason stays one short line
// ("cgroup v1: memory.usage_in_bytes: is a directory").
func fileError(source, file string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("%s: %s: %w", source, path.Base(file), err)
}
