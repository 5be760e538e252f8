package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The examples in docs/events.md run against a real server, so that what
// the application's developers copy works.

var fencePattern = regexp.MustCompile("(?s)```(\\w+)\\n(.*?)```")

// docBlocks returns the fenced blocks of docs/events.md in a language.
func docBlocks(t *testing.T, lang string) []string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "events.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range fencePattern.FindAllStringSubmatch(string(doc), -1) {
		if m[1] == lang {
			out = append(out, m[2])
		}
	}
	return out
}

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found; the docs' examples need it", name)
		}
		t.Skipf("%s not found; install it to run the docs' examples", name)
	}
	return p
}

// sixTypes are the seed's events, which the docs show one by one.
var sixTypes = []string{"user_registered", "user_approved", "user_rejected", "stream_started", "stream_stopped", "track_added"}

func storedTypes(t *testing.T, base string) []string {
	t.Helper()
	var types []string
	for _, e := range listedEvents(t, base) {
		types = append(types, e.Type)
	}
	slices.Sort(types)
	return types
}

func docServer(t *testing.T) (string, []string) {
	t.Helper()
	base, _ := startServe(t, map[string]string{
		"VITALS_DATA_DIR":       t.TempDir(),
		"VITALS_ADMIN_PASSWORD": "docs-test-admin-password",
		"VITALS_INGEST_TOKEN":   eventTestIngest,
		"VITALS_READ_TOKEN":     eventTestRead,
	})
	env := append(os.Environ(), "VITALS_URL="+base, "VITALS_INGEST_TOKEN="+eventTestIngest)
	return base, env
}

func TestDocsCurlExamples(t *testing.T) {
	needTool(t, "curl")
	bash := needTool(t, "bash")
	base, env := docServer(t)
	var script string
	for _, b := range docBlocks(t, "sh") {
		if strings.Contains(b, "curl") && strings.Contains(b, "track_added") && !strings.Contains(b, "export") {
			script = b
		}
	}
	if script == "" {
		t.Fatal("docs/events.md has no curl block with the six events")
	}
	cmd := exec.Command(bash, "-euo", "pipefail", "-c", script)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("curl examples: %v\n%s", err, out)
	}
	got := storedTypes(t, base)
	want := slices.Sorted(slices.Values(sixTypes))
	if !slices.Equal(got, want) {
		t.Fatalf("stored types %v, want %v", got, want)
	}
}

func TestDocsPythonHelper(t *testing.T) {
	python := needTool(t, "python3")
	base, env := docServer(t)
	var helper string
	for _, b := range docBlocks(t, "python") {
		if strings.Contains(b, "def log_activity(") {
			helper = b
		}
	}
	if helper == "" {
		t.Fatal("docs/events.md has no python block with the log_activity helper")
	}
	script := helper + `
import sys
results = [
    log_activity("user_registered", "New user registered", user_email="anna@example.com"),
    log_activity("user_approved", "User approved", user_email="anna@example.com", details={"approved_by": "admin@example.com"}),
    log_activity("user_rejected", "User rejected", user_email="spam@example.com"),
    log_activity("stream_started", "Эфир начался", details={"mount": "/live"}),
    log_activity("stream_stopped", "Stream stopped"),
    log_activity("track_added", "Track added", details={"track_id": 42, "title": "Ночь"}),
]
# A refused event returns False and raises nothing.
results.append(not log_activity("Bad Type", "refused"))
sys.exit(0 if all(results) else 1)
`
	cmd := exec.Command(python, "-c", script)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("log_activity: %v\n%s", err, out)
	}
	got := storedTypes(t, base)
	want := slices.Sorted(slices.Values(sixTypes))
	if !slices.Equal(got, want) {
		t.Fatalf("stored types %v, want %v", got, want)
	}
}
