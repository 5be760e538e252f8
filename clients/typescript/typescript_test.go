// Package typescript checks the OpenAPI document from a TypeScript
// client's side: openapi-typescript generates the types, and tsc compiles
// an example that sets and reads an event's details against them.
package typescript

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tools are the pinned npm packages (.ci/run: npm ci in clients/typescript).
var tools = map[string]string{
	"openapi-typescript": "node_modules/.bin/openapi-typescript",
	"tsc":                "node_modules/.bin/tsc",
}

func TestGeneratedClientCompiles(t *testing.T) {
	for name, path := range tools {
		if _, err := os.Stat(path); err != nil {
			missing(t, name)
		}
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing(t, "node")
	}
	dir := t.TempDir()
	gen := filepath.Join(dir, "vitals.d.ts")
	run(t, tools["openapi-typescript"], "../../handlers/openapi.json", "-o", gen)
	types, err := os.ReadFile(gen)
	if err != nil {
		t.Fatal(err)
	}
	// The reason for this test: without additionalProperties, details
	// came out as Record<string, never>, which no real event fits.
	if strings.Contains(string(types), "details?: Record<string, never>") || strings.Contains(string(types), "details: Record<string, never>") {
		t.Fatalf("details is generated as an empty record:\n%s", grepLines(string(types), "details"))
	}
	example, err := os.ReadFile("example.ts")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "example.ts"), example, 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, tools["tsc"], "--noEmit", "--strict", "--target", "es2020", "--moduleResolution", "node",
		filepath.Join(dir, "example.ts"), gen)
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
}

func missing(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing (npm ci in clients/typescript); CI must provide it", what)
	}
	t.Skipf("%s is missing (npm ci in clients/typescript); skipping", what)
}

func grepLines(s, word string) string {
	var out []string
	for line := range strings.Lines(s) {
		if strings.Contains(line, word) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return strings.Join(out, "\n")
}
