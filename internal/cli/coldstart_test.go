package cli

import (
	"net/http"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"
)

// Cold start, as scale-to-zero sees it: from exec to the first 200 from
// the health endpoint, on a fresh data directory each time (so SQLite's
// file is created and every migration runs). Run as
//
//	go test -run '^$' -bench ColdStart -benchtime 20x .
//
// for the median of 20 starts. When node_exporter is installed (apt-get
// install prometheus-node-exporter) its first 200 on /metrics is measured
// in the same loop, start for start in turn with vitals, so that both see
// the same machine: the ms-median-node_exporter figure.
func BenchmarkColdStart(b *testing.B) {
	bin := buildVitals(b, b.TempDir())
	starters := []starter{{name: "", path: "/health", command: func(port string) *exec.Cmd {
		cmd := exec.Command(bin, "serve")
		// A fresh store each start: migrations included.
		dir, err := os.MkdirTemp(b.TempDir(), "data")
		if err != nil {
			b.Fatal(err)
		}
		cmd.Env = []string{"PORT=" + port, "VITALS_DATA_DIR=" + dir, "VITALS_LOG_FORMAT=json"}
		return cmd
	}}}
	for _, name := range []string{"node_exporter", "prometheus-node-exporter"} {
		if p, err := exec.LookPath(name); err == nil {
			starters = append(starters, starter{name: "-node_exporter", path: "/metrics", command: func(port string) *exec.Cmd {
				return exec.Command(p, "--web.listen-address=127.0.0.1:"+port)
			}})
			break
		}
	}
	coldStarts(b, starters)
}

// starter is one program to start: command makes it listen on port, and
// path answers 200 once it serves.
type starter struct {
	name    string // suffix of its metrics
	path    string
	command func(port string) *exec.Cmd
}

// coldStarts starts each starter b.N times, in turn, and reports the
// median, fastest and slowest time from exec to a 200 on its path.
func coldStarts(b *testing.B, starters []starter) {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	times := make([][]time.Duration, len(starters))
	b.ResetTimer()
	for range b.N {
		for i, s := range starters {
			b.StopTimer()
			port := freePort(b)
			cmd := s.command(port)
			url := "http://127.0.0.1:" + port + s.path
			if i == 0 {
				b.StartTimer()
			}
			start := time.Now()
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			for {
				resp, err := client.Get(url)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						break
					}
				}
				if time.Since(start) > 30*time.Second {
					_ = cmd.Process.Kill()
					b.Fatalf("%s never answered 200", url)
				}
				time.Sleep(200 * time.Microsecond)
			}
			times[i] = append(times[i], time.Since(start))
			b.StopTimer()
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
		}
		b.StartTimer()
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	for i, s := range starters {
		slices.Sort(times[i])
		b.ReportMetric(ms(times[i][len(times[i])/2]), "ms-median"+s.name)
		b.ReportMetric(ms(times[i][0]), "ms-min"+s.name)
		b.ReportMetric(ms(times[i][len(times[i])-1]), "ms-max"+s.name)
	}
}
