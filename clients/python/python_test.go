// Package python_test runs the Python client's tests (unittest, with
// Debian's /usr/bin/python3) against the real vitals binary, so that the
// root's `go test ./...` covers the Python client too.
package python_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vitalsdev/vitals/internal/testbin"
)

// python finds the interpreter the tests run with: Debian's own first
// (where apt installs python3-fastapi), then python3 on PATH. Missing, the
// tests skip with the reason, except under CI=true, where they fail.
func python(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("python3 not found; CI needs it for the Python client's tests")
	}
	t.Skip("python3 not found: the Python client's tests need it (apt-get install python3)")
	return ""
}

// vitals builds the binary from the repository two levels up.
func vitals(t testing.TB) string {
	t.Helper()
	bin, err := testbin.Build(filepath.Join(t.TempDir(), "vitals"), testbin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func runUnittest(t *testing.T, py, bin, module string) {
	t.Helper()
	cmd := exec.Command(py, "-m", "unittest", "-v", module)
	cmd.Env = append(os.Environ(), "VITALS_BINARY="+bin, "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", module, err, out)
	}
	if bytes.Contains(out, []byte("skipped")) {
		t.Logf("%s", out)
	} else if testing.Verbose() {
		t.Logf("%s", out)
	}
}

func TestPythonClient(t *testing.T) {
	py := python(t)
	runUnittest(t, py, vitals(t), "test_vitals")
}

// The "Done when" of issue 15: a real FastAPI app under uvicorn, vitals
// up, down, slow and hung. Debian's python3-fastapi and python3-uvicorn;
// .ci/run installs them.
func TestFastAPIApp(t *testing.T) {
	py := python(t)
	if err := exec.Command(py, "-c", "import fastapi, uvicorn").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3-fastapi and python3-uvicorn are missing; CI needs them")
		}
		t.Skip("FastAPI or uvicorn missing: apt-get install python3-fastapi python3-uvicorn")
	}
	runUnittest(t, py, vitals(t), "test_fastapi")
}

// BenchmarkFastAPIApp gives the app's request latency and log_activity's
// cost with vitals up and hung, side by side (bench_fastapi.py measures;
// this reports its figures). Run:
//
//	go test ./clients/python/ -run '^$' -bench FastAPIApp -benchtime 1x
func BenchmarkFastAPIApp(b *testing.B) {
	py := python(b)
	if err := exec.Command(py, "-c", "import fastapi, uvicorn").Run(); err != nil {
		b.Skip("FastAPI or uvicorn missing: apt-get install python3-fastapi python3-uvicorn")
	}
	bin := vitals(b)
	for range b.N {
		cmd := exec.Command(py, "bench_fastapi.py")
		cmd.Env = append(os.Environ(), "VITALS_BINARY="+bin, "PYTHONDONTWRITEBYTECODE=1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("bench_fastapi.py: %v\n%s", err, stderr.String())
		}
		var figures map[string]float64
		if err := json.Unmarshal(out[bytes.LastIndexByte(bytes.TrimRight(out, "\n"), '\n')+1:], &figures); err != nil {
			b.Fatalf("bench_fastapi.py's last line is not its figures: %v\n%s", err, out)
		}
		for name, v := range figures {
			b.ReportMetric(v, strings.ReplaceAll(name, " ", "_"))
		}
		b.Logf("\n%s", out)
	}
}
