package logging

import (
	"strings"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/internal/syncbuf"
)

// The request log's buffer writes every line, in order, by the flush
// interval or at Close, whichever comes first.
func TestLineBuffer(t *testing.T) {
	var out syncbuf.Buffer
	b := newLineBuffer(&out, time.Hour)
	for i := range 3 {
		if _, err := b.Write([]byte{byte('a' + i), '\n'}); err != nil {
			t.Fatal(err)
		}
	}
	if out.String() != "" {
		t.Fatalf("written before the flush: %q", out.String())
	}
	b.Close()
	if out.String() != "a\nb\nc\n" {
		t.Fatalf("after Close: %q", out.String())
	}
	b.Close() // twice is fine

	var ticked syncbuf.Buffer
	b = newLineBuffer(&ticked, time.Millisecond)
	defer b.Close()
	_, _ = b.Write([]byte("line\n"))
	deadline := time.Now().Add(10 * time.Second)
	for ticked.String() != "line\n" {
		if time.Now().After(deadline) {
			t.Fatal("the ticker never flushed")
		}
		time.Sleep(time.Millisecond)
	}

	// A large burst is written at once, not held.
	var big syncbuf.Buffer
	b = newLineBuffer(&big, time.Hour)
	defer b.Close()
	line := []byte(strings.Repeat("x", 1023) + "\n")
	for range lineBufferMax / len(line) {
		_, _ = b.Write(line)
	}
	if len(big.String()) < lineBufferMax {
		t.Fatalf("%d bytes written after a %d-byte burst", len(big.String()), lineBufferMax)
	}
}
