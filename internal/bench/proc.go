package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// buildVitals builds the binary as the Dockerfile does: CGO_ENABLED=0,
// -trimpath, -ldflags "-s -w -X ...Version=...".
func buildVitals(ctx context.Context, root, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath",
		"-ldflags=-s -w -X github.com/vitalsdev/vitals/internal/version.Version=bench", "-o", out, ".")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v: %s", err, b)
	}
	return nil
}

// moduleRoot is the directory of vitals' go.mod.
func moduleRoot() (string, error) {
	b, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	gomod := strings.TrimSpace(string(b))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the vitals module")
	}
	return filepath.Dir(gomod), nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// proc is a started server.
type proc struct {
	cmd  *exec.Cmd
	base string
	done chan struct{}
	log  *os.File
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop ends the process with SIGTERM (SIGKILL after 10 s) and waits.
func (p *proc) stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	if p.log != nil {
		_ = p.log.Close()
	}
}

// start runs bin with args and env (added to this environment), its
// output into logFile, and returns once it started (not once ready).
func start(bin string, args, env []string, logFile string, port int) (*proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var lf *os.File
	if logFile != "" {
		var err error
		if lf, err = os.Create(logFile); err != nil {
			return nil, err
		}
		cmd.Stdout, cmd.Stderr = lf, lf
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, base: "http://127.0.0.1:" + strconv.Itoa(port), done: make(chan struct{}), log: lf}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

var quick = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// waitOK polls url until it answers 200, every half millisecond while
// the port refuses, and returns how long that took from since.
func waitOK(p *proc, url string, since time.Time, limit time.Duration) (time.Duration, error) {
	for time.Since(since) < limit {
		select {
		case <-p.done:
			return 0, fmt.Errorf("%s exited before answering %s", filepath.Base(p.cmd.Path), url)
		default:
		}
		resp, err := quick.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(since), nil
			}
		}
		time.Sleep(500 * time.Microsecond)
	}
	return 0, fmt.Errorf("%s did not answer 200 within %s", url, limit)
}

// memory is a process's VmRSS and its anonymous and file-backed parts, KiB.
type memory struct{ RSS, Anon, File int }

func (m memory) String() string {
	return fmt.Sprintf("%.1f MiB (anon %.1f, file %.1f)", float64(m.RSS)/1024, float64(m.Anon)/1024, float64(m.File)/1024)
}

func readMemory(pid int) (memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	defer f.Close()
	var m memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		v, _ := strconv.Atoi(fields[1])
		switch fields[0] {
		case "VmRSS:":
			m.RSS = v
		case "RssAnon:":
			m.Anon = v
		case "RssFile:":
			m.File = v
		}
	}
	return m, sc.Err()
}

// cpuTicks is utime+stime of the process, every thread, live or exited
// (/proc/PID/stat), in clock ticks (100 a second on Linux).
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces: fields count from after ")".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("bad /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is the state (field 3): utime is field 14, stime 15.
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ut + st, nil
}

// schedNS sums the CPU nanoseconds of the live threads
// (/proc/PID/task/*/schedstat), finer than the ticks.
func schedNS(pid int) int64 {
	dirs, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var n int64
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) > 0 {
			v, _ := strconv.ParseInt(f[0], 10, 64)
			n += v
		}
	}
	return n
}
