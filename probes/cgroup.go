package probes

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// This file finds the process's cgroups and parses their files. Parsing is
// pure and table-tested; only the methods on sysfs touch files.

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	id     int
	root   string // the mount's root within its filesystem
	point  string // where it is mounted, in this mount namespace
	fstype string
	source string
	// superOpts are the filesystem's options; for a cgroup v1 mount they
	// name its controllers ("rw,cpu,cpuacct").
	superOpts []string
}

// parseMountinfo parses /proc/self/mountinfo (proc(5)): "id parent
// major:minor root point options [optional...] - fstype source superopts".
func parseMountinfo(data []byte) ([]mountEntry, error) {
	var out []mountEntry
	for line := range bytes.Lines(data) {
		f := strings.Fields(string(line))
		if len(f) == 0 {
			continue
		}
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 7 || sep < 0 || sep+2 >= len(f) {
			return nil, fmt.Errorf("mountinfo: malformed line %q", strings.TrimSpace(string(line)))
		}
		id, err := strconv.Atoi(f[0])
		if err != nil {
			return nil, fmt.Errorf("mountinfo: bad mount id %q", f[0])
		}
		m := mountEntry{
			id:     id,
			root:   unescapeOctal(f[3]),
			point:  unescapeOctal(f[4]),
			fstype: f[sep+1],
			source: unescapeOctal(f[sep+2]),
		}
		if sep+3 < len(f) {
			m.superOpts = strings.Split(f[sep+3], ",")
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, errors.New("mountinfo: no mounts")
	}
	return out, nil
}

// unescapeOctal undoes the kernel's \040-style escaping of spaces, tabs,
// newlines and backslashes in mountinfo paths.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// procCgroup is one line of /proc/self/cgroup: "id:controllers:path". The
// v2 line is "0::path"; v1 lines list their controllers ("cpu,cpuacct").
type procCgroup struct {
	controllers []string
	path        string
	v2          bool
}

// parseProcCgroup parses /proc/self/cgroup.
func parseProcCgroup(data []byte) ([]procCgroup, error) {
	var out []procCgroup
	for line := range bytes.Lines(data) {
		s := strings.TrimSpace(string(line))
		if s == "" {
			continue
		}
		id, rest, ok1 := strings.Cut(s, ":")
		ctrl, p, ok2 := strings.Cut(rest, ":")
		if !ok1 || !ok2 || !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("cgroup: malformed line %q", s)
		}
		pc := procCgroup{path: p, v2: id == "0" && ctrl == ""}
		if ctrl != "" {
			pc.controllers = strings.Split(ctrl, ",")
		}
		out = append(out, pc)
	}
	if len(out) == 0 {
		return nil, errors.New("cgroup: empty")
	}
	return out, nil
}

// cgroupLoc is where one controller of this process lives: dir is the
// process's own cgroup directory and mount the hierarchy's mount point,
// both absolute paths in this mount namespace. dir == "" means not found.
type cgroupLoc struct {
	dir, mount string
}

// cgroupLayout is where the controllers vitals reads live. In a pure v2
// system only v2 is set; in a v1 or hybrid one the v1 controllers are set
// too and win, because a hybrid system's cgroup2 mount (at
// /sys/fs/cgroup/unified) carries no controllers.
type cgroupLayout struct {
	v2                           cgroupLoc
	memory, cpu, cpuacct, cpuset cgroupLoc // v1
}

// locateCgroups maps the process's cgroup paths onto mounted directories.
// exists reports whether a directory exists; it is how a namespaced
// cgroup is told from a nested one (see cgroupDir).
func locateCgroups(lines []procCgroup, mounts []mountEntry, exists func(string) bool) cgroupLayout {
	var lay cgroupLayout
	for _, l := range lines {
		if l.v2 {
			if m, ok := pickMount(mounts, "cgroup2", "", l.path); ok {
				lay.v2 = cgroupLoc{dir: cgroupDir(m, l.path, exists), mount: m.point}
			}
			continue
		}
		for _, c := range l.controllers {
			var dst *cgroupLoc
			switch c {
			case "memory":
				dst = &lay.memory
			case "cpu":
				dst = &lay.cpu
			case "cpuacct":
				dst = &lay.cpuacct
			case "cpuset":
				dst = &lay.cpuset
			default:
				continue
			}
			if m, ok := pickMount(mounts, "cgroup", c, l.path); ok {
				*dst = cgroupLoc{dir: cgroupDir(m, l.path, exists), mount: m.point}
			}
		}
	}
	return lay
}

// pickMount finds the mount of a cgroup hierarchy: fstype "cgroup2", or
// "cgroup" carrying controller among its options. When a hierarchy is
// mounted more than once, the mount whose root contains the path wins.
func pickMount(mounts []mountEntry, fstype, controller, cgPath string) (mountEntry, bool) {
	var found mountEntry
	ok := false
	for _, m := range mounts {
		if m.fstype != fstype {
			continue
		}
		if controller != "" && !hasOpt(m.superOpts, controller) {
			continue
		}
		if underRoot(m.root, cgPath) {
			return m, true
		}
		if !ok {
			found, ok = m, true
		}
	}
	return found, ok
}

func hasOpt(opts []string, want string) bool {
	for _, o := range opts {
		if o == want {
			return true
		}
	}
	return false
}

// underRoot reports whether cgroup path p lies within mount root r.
func underRoot(r, p string) bool {
	return r == "/" || p == r || strings.HasPrefix(p, r+"/")
}

// cgroupDir returns the directory of cgroup path p under mount m.
//
// Nested (a host, or a container without a cgroup namespace whose mount
// shows the whole hierarchy): the directory is the mount point plus the
// path relative to the mount's root, e.g. 4:memory:/process_api/x under
// /sys/fs/cgroup/memory.
//
// Namespaced (a container): the path is "/" or, from an old runtime, a host
// path the container cannot see ("/docker/<id>" or "/../.."), while the
// files at the mount point are the container's own. If the nested
// directory does not exist, the mount point is the process's cgroup.
func cgroupDir(m mountEntry, p string, exists func(string) bool) string {
	if strings.HasPrefix(p, "/..") {
		return m.point
	}
	if underRoot(m.root, p) {
		rel := strings.TrimPrefix(p, m.root)
		if m.root == "/" {
			rel = p
		}
		d := path.Join(m.point, rel)
		if d == m.point || exists(d) {
			return d
		}
	}
	return m.point
}

// ancestors returns dir and its parents up to and including mount, for
// limits set on an enclosing cgroup (a systemd slice, a pod).
func ancestors(loc cgroupLoc) []string {
	var out []string
	for d := loc.dir; ; d = path.Dir(d) {
		out = append(out, d)
		if d == loc.mount || d == "/" || d == "." || !strings.HasPrefix(d, loc.mount) {
			break
		}
	}
	return out
}

// unlimitedThreshold is where a memory limit stops meaning anything: v1
// reports "no limit" as 2^63 rounded down to a page (9223372036854771712),
// and nothing real comes near 2^62 bytes.
const unlimitedThreshold = 1 << 62

// parseMemLimit parses memory.max or memory.limit_in_bytes. "max" and huge
// values mean no limit.
func parseMemLimit(data []byte) (limit uint64, unlimited bool, err error) {
	s := strings.TrimSpace(string(data))
	if s == "max" {
		return 0, true, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("invalid limit %q", truncate(s, 32))
	}
	if v >= unlimitedThreshold {
		return 0, true, nil
	}
	return v, false, nil
}

// parseUintFile parses a file holding one unsigned number
// (memory.current, memory.usage_in_bytes, cpuacct.usage).
func parseUintFile(data []byte) (uint64, error) {
	s := strings.TrimSpace(string(data))
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid number %q", truncate(s, 32))
	}
	return v, nil
}

// parseKeyed returns the value of key in a flat keyed file ("key value"
// per line: memory.stat, cpu.stat).
func parseKeyed(data []byte, key string) (uint64, error) {
	for line := range bytes.Lines(data) {
		k, v, ok := strings.Cut(strings.TrimSpace(string(line)), " ")
		if !ok || k != key {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: invalid number %q", key, truncate(v, 32))
		}
		return n, nil
	}
	return 0, fmt.Errorf("%s: %w", key, errNoField)
}

// workingSet is usage minus inactive file cache: the memory the cgroup
// cannot give back without swapping or OOM, as docker stats and cAdvisor
// report it. The kernel updates the two counters separately, so inactive
// can briefly exceed usage; that reads as 0, not as a wrapped uint64.
func workingSet(usage, inactiveFile uint64) uint64 {
	if inactiveFile > usage {
		return 0
	}
	return usage - inactiveFile
}

// memLimitApplies reports whether a cgroup limit constrains the process:
// a limit at or above the host's memory is no limit (a container started
// without --memory on a v1 host shows such values).
func memLimitApplies(limit uint64, unlimited bool, hostTotal uint64) bool {
	if unlimited || limit == 0 {
		return false
	}
	return hostTotal == 0 || limit < hostTotal
}

// parseCPUMax parses cgroup v2 cpu.max: "max 100000" or "50000 100000".
// quota < 0 means no quota.
func parseCPUMax(data []byte) (quota, period int64, err error) {
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("invalid cpu.max %q", truncate(string(data), 32))
	}
	period, err = strconv.ParseInt(f[1], 10, 64)
	if err != nil || period <= 0 {
		return 0, 0, fmt.Errorf("invalid period %q", truncate(f[1], 32))
	}
	if f[0] == "max" {
		return -1, period, nil
	}
	quota, err = strconv.ParseInt(f[0], 10, 64)
	if err != nil || quota <= 0 {
		return 0, 0, fmt.Errorf("invalid quota %q", truncate(f[0], 32))
	}
	return quota, period, nil
}

// parseInt parses a file holding one signed number (cpu.cfs_quota_us,
// where -1 means no quota).
func parseInt(data []byte) (int64, error) {
	s := strings.TrimSpace(string(data))
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid number %q", truncate(s, 32))
	}
	return v, nil
}

// maxCPUs bounds a cpuset's size: Linux's NR_CPUS tops out at 8192.
const maxCPUs = 8192

// parseCPUList counts the CPUs of a cpuset list such as "0-3,6,8-9".
func parseCPUList(data []byte) (int, error) {
	s := strings.TrimSpace(string(data))
	if s == "" {
		return 0, errors.New("empty cpu list")
	}
	n := 0
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return 0, fmt.Errorf("invalid cpu list %q", truncate(s, 32))
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0, fmt.Errorf("invalid cpu list %q", truncate(s, 32))
			}
		}
		// A real cpuset names at most a few thousand CPUs; a range wider than
		// that is garbage, and summing it could overflow.
		if b-a >= maxCPUs || n+(b-a+1) > maxCPUs {
			return 0, fmt.Errorf("invalid cpu list %q", truncate(s, 32))
		}
		n += b - a + 1
	}
	return n, nil
}

// effectiveCores is the processing power the cgroup can use:
// min(quota/period, cpuset size, numCPU). quota < 0 and cpuset == 0 mean
// "not limited by this".
func effectiveCores(quota, period int64, cpuset, numCPU int) float64 {
	c := float64(numCPU)
	if quota > 0 && period > 0 {
		c = min(c, float64(quota)/float64(period))
	}
	if cpuset > 0 {
		c = min(c, float64(cpuset))
	}
	return c
}

// cgroupCPUPercent is usage over the wall time between two readings,
// against the effective cores: 0.5 core busy out of a 0.5 quota is 100 %.
func cgroupCPUPercent(usageNs, wallNs uint64, cores float64) float64 {
	return percent(float64(usageNs), float64(wallNs)*cores)
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// cgroups returns the cgroup layout, read anew at most once per layoutTTL.
// A failed read is not cached, so a transient error is retried next tick.
func (f sysfs) cgroups() (cgroupLayout, error) {
	if f.layout == nil {
		return f.readLayout()
	}
	c := f.layout
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if now.Before(c.expires) {
		return c.layout, nil
	}
	l, err := f.readLayout()
	if err != nil {
		return l, err
	}
	c.layout, c.expires = l, now.Add(layoutTTL)
	return l, nil
}

// readLayout reads /proc/self/cgroup and /proc/self/mountinfo below the root.
func (f sysfs) readLayout() (cgroupLayout, error) {
	cg, err := f.read("/proc/self/cgroup")
	if err != nil {
		return cgroupLayout{}, err
	}
	lines, err := parseProcCgroup(cg)
	if err != nil {
		return cgroupLayout{}, err
	}
	mi, err := f.read("/proc/self/mountinfo")
	if err != nil {
		return cgroupLayout{}, err
	}
	mounts, err := parseMountinfo(mi)
	if err != nil {
		return cgroupLayout{}, err
	}
	return locateCgroups(lines, mounts, f.exists), nil
}
