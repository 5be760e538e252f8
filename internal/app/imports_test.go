package app

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPackageImportRules holds the rule of docs/architecture.md: only
// handlers may import Fiber or fasthttp, so probes, storage and web stay
// usable (and testable) without an HTTP server.
func TestPackageImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}",
		"github.com/vitalsdev/vitals/probes/...",
		"github.com/vitalsdev/vitals/storage/...",
		"github.com/vitalsdev/vitals/web/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list named only %d packages: %q", len(deps), deps)
	}
	for _, p := range deps {
		if strings.HasPrefix(p, "github.com/gofiber/") || strings.HasPrefix(p, "github.com/valyala/fasthttp") {
			t.Errorf("probes, storage or web depend on %s", p)
		}
	}
}
