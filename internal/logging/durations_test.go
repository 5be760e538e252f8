package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// Durations reach the log in milliseconds, under a key that says so, in
// both formats; other attributes are as they were.
func TestDurationsInMS(t *testing.T) {
	var js bytes.Buffer
	New("json", &js).Warn("postgres unavailable, retrying", slog.Duration("retry_every", 2*time.Second),
		slog.Duration("took", 1500*time.Microsecond), slog.Int("attempt", 3))
	var line map[string]any
	if err := json.Unmarshal(js.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, &js)
	}
	if line["retry_every_ms"] != 2000.0 || line["took_ms"] != 1.5 || line["attempt"] != 3.0 {
		t.Errorf("JSON line %s", &js)
	}
	if _, ok := line["retry_every"]; ok {
		t.Errorf("the duration is still in nanoseconds: %s", &js)
	}
	var text bytes.Buffer
	New("text", &text).Info("x", "wait", 250*time.Millisecond)
	if !strings.Contains(text.String(), "wait_ms=250") {
		t.Errorf("text line %q", &text)
	}
}
