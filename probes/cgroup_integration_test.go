package probes

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The integration test creates a real cgroup with a 64 MiB memory limit and
// a quota of half a core, runs a copy of the test binary inside it, has it
// run the memory and CPU probes against its own /proc/self/cgroup, and
// reads what they report.

const (
	helperEnv      = "VITALS_CGROUP_HELPER"
	helperMarker   = "VITALS_PROBES_JSON "
	testLimitBytes = 64 << 20 // 67108864
	testQuota      = 50000    // of a 100000 us period: 0.5 core
	testPeriod     = 100000
)

// TestCgroupHelperProcess is not a test: it is the process the integration
// test starts inside the cgroup. It waits to be moved, then reports.
func TestCgroupHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process of TestCgroupLimits")
	}
	// wait until the parent has moved us into the cgroup
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	var s Snapshot
	cpu := NewCPUProbe(HostConfig{})
	cpu.Read(context.Background()).Place(&s)
	// burn CPU for a while: at a 0.5 core quota it is throttled
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
	}
	cpu.Read(context.Background()).Place(&s)
	NewMemoryProbe(HostConfig{}).Read(context.Background()).Place(&s)
	NewLoadProbe(HostConfig{}).Read(context.Background()).Place(&s)
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(helperMarker + string(b))
}

// cgroupPlan is how to put a process under the test's limits on this
// machine's hierarchy.
type cgroupPlan struct {
	version int
	dirs    []string // created, removed at cleanup (children first)
	procs   []string // cgroup.procs files to write the pid to
}

// makeTestCgroup creates the cgroup or returns why it cannot.
func makeTestCgroup(t *testing.T) (*cgroupPlan, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("not root: cannot create cgroups")
	}
	lay, err := newSysfs("/").cgroups()
	if err != nil {
		return nil, fmt.Errorf("cannot read this process's cgroups: %v", err)
	}
	name := "vitals-test-" + randomHex(t)
	plan := &cgroupPlan{}
	mk := func(dir string) error {
		if err := os.Mkdir(dir, 0o755); err != nil {
			return err
		}
		plan.dirs = append(plan.dirs, dir)
		return nil
	}
	write := func(file, value string) error {
		return os.WriteFile(file, []byte(value), 0o644)
	}
	fail := func(err error) (*cgroupPlan, error) {
		plan.remove(t)
		return nil, err
	}
	switch {
	case lay.memory.mount != "" && lay.cpu.mount != "" && lay.cpuacct.mount != "":
		plan.version = 1
		for _, mount := range []string{lay.memory.mount, lay.cpu.mount, lay.cpuacct.mount} {
			dir := filepath.Join(mount, name)
			if contains(plan.dirs, dir) {
				continue // cpu and cpuacct mounted together
			}
			if err := mk(dir); err != nil {
				return fail(fmt.Errorf("cgroup v1: create %s: %v", dir, err))
			}
			plan.procs = append(plan.procs, filepath.Join(dir, "cgroup.procs"))
		}
		mem, cpu := filepath.Join(lay.memory.mount, name), filepath.Join(lay.cpu.mount, name)
		if err := errors.Join(
			write(filepath.Join(mem, "memory.limit_in_bytes"), strconv.Itoa(testLimitBytes)),
			write(filepath.Join(cpu, "cpu.cfs_period_us"), strconv.Itoa(testPeriod)),
			write(filepath.Join(cpu, "cpu.cfs_quota_us"), strconv.Itoa(testQuota)),
		); err != nil {
			return fail(fmt.Errorf("cgroup v1: set limits: %v", err))
		}
	case lay.v2.mount != "":
		plan.version = 2
		ctrl, err := os.ReadFile(filepath.Join(lay.v2.mount, "cgroup.controllers"))
		if err != nil || !strings.Contains(string(ctrl), "memory") || !strings.Contains(string(ctrl), "cpu") {
			return nil, fmt.Errorf("cgroup v2 at %s offers no memory and cpu controllers (%q)", lay.v2.mount, strings.TrimSpace(string(ctrl)))
		}
		// the controllers must be enabled for children of the mount's
		// root; where that root holds processes and is not the real root
		// (a container), the kernel refuses, and the test cannot run
		if err := write(filepath.Join(lay.v2.mount, "cgroup.subtree_control"), "+memory +cpu"); err != nil {
			return nil, fmt.Errorf("cgroup v2: enable memory and cpu for children: %v", err)
		}
		dir := filepath.Join(lay.v2.mount, name)
		if err := mk(dir); err != nil {
			return fail(fmt.Errorf("cgroup v2: create %s: %v", dir, err))
		}
		if err := errors.Join(
			write(filepath.Join(dir, "memory.max"), strconv.Itoa(testLimitBytes)),
			write(filepath.Join(dir, "cpu.max"), fmt.Sprintf("%d %d", testQuota, testPeriod)),
		); err != nil {
			return fail(fmt.Errorf("cgroup v2: set limits: %v", err))
		}
		plan.procs = []string{filepath.Join(dir, "cgroup.procs")}
	default:
		return nil, errors.New("no cgroup v1 memory+cpu+cpuacct or cgroup v2 hierarchy mounted")
	}
	t.Cleanup(func() { plan.remove(t) })
	return plan, nil
}

// remove deletes the created cgroups; a cgroup whose last process has
// just exited may be busy for a moment.
func (p *cgroupPlan) remove(t *testing.T) {
	for i := len(p.dirs) - 1; i >= 0; i-- {
		var err error
		for range 50 {
			if err = os.Remove(p.dirs[i]); err == nil || errors.Is(err, os.ErrNotExist) {
				err = nil
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Errorf("remove cgroup %s: %v", p.dirs[i], err)
		}
	}
	p.dirs = nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func TestCgroupLimits(t *testing.T) {
	if os.Getenv(helperEnv) == "1" {
		t.Skip("inside the helper")
	}
	plan, err := makeTestCgroup(t)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cannot create a test cgroup (CI=true: this test must run): %v", err)
		}
		t.Skipf("cannot create a test cgroup: %v", err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestCgroupHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := strconv.Itoa(cmd.Process.Pid)
	for _, f := range plan.procs {
		if err := os.WriteFile(f, []byte(pid), 0o644); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("move helper into %s: %v", f, err)
		}
	}
	_, _ = io.WriteString(stdin, "go\n")
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v\n%s", err, out.String())
	}
	var line string
	for l := range strings.Lines(out.String()) {
		if after, ok := strings.CutPrefix(l, helperMarker); ok {
			line = after
		}
	}
	if line == "" {
		t.Fatalf("helper printed no snapshot:\n%s", out.String())
	}
	var s Snapshot
	if err := json.Unmarshal([]byte(line), &s); err != nil {
		t.Fatalf("helper output: %v\n%s", err, line)
	}
	t.Logf("inside the cgroup: memory %s, cpu %s, load %s", mustJSON(s.Memory), mustJSON(s.CPU), mustJSON(s.Load))

	source := fmt.Sprintf("cgroup v%d", plan.version)
	m := s.Memory
	if m.Status != StatusOK || m.Source != source || *m.TotalBytes != testLimitBytes || *m.UsedBytes == 0 || *m.UsedBytes > testLimitBytes {
		t.Errorf("memory: %s, want total %d from %s", mustJSON(m), testLimitBytes, source)
	}
	c := s.CPU
	if c.Status != StatusOK || c.Source != source || *c.Cores != 0.5 || *c.Percent <= 0 || *c.Percent > 100 ||
		c.ThrottledPeriodsTotal == nil {
		t.Errorf("cpu: %s, want 0.5 cores from %s", mustJSON(c), source)
	}
	if s.Load.Status != StatusOK || *s.Load.Cores != 0.5 {
		t.Errorf("load: %s, want 0.5 cores", mustJSON(s.Load))
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
