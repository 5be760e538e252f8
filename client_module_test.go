package main

import (
	"flag"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// The Go client is a module of its own (client/go.mod), so the root's
// `go test ./...` does not reach its packages; a newcomer expects it to
// test the whole repository. This runs the client module's tests with the
// same go command, environment and flags (-race, -count, -short, -v) and
// fails with their output. `cd client && go test ./...` still works alone.
func TestClientModule(t *testing.T) {
	args := []string{"test"}
	if raceEnabled {
		args = append(args, "-race")
	}
	if f := flag.Lookup("test.count"); f != nil && isSet("test.count") {
		// -count=1 here means run the client's tests too, not their cache.
		args = append(args, "-count="+f.Value.String())
	}
	if testing.Short() {
		args = append(args, "-short")
	}
	if testing.Verbose() {
		args = append(args, "-v")
	}
	if d, ok := t.Deadline(); ok {
		// Leave this test time to report what the inner run printed.
		left := time.Until(d) - 10*time.Second
		if left <= 0 {
			t.Fatal("no time left for the client module's tests")
		}
		args = append(args, "-timeout="+strconv.Itoa(int(left.Seconds()))+"s")
	}
	cmd := exec.Command("go", append(args, "./...")...)
	cmd.Dir = "client"
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %v in client/: %v\n%s", args, err, out)
	}
	if testing.Verbose() {
		t.Logf("go %v in client/:\n%s", args, out)
	}
}

// isSet reports whether the test binary was given the flag.
func isSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
