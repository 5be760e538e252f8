// Package testbin builds the vitals binary for the tests that run it as a
// separate process: the fault suite, the hostile-client and browser tests,
// the command tests and the Python client's tests. One helper keeps their
// builds alike, so that on a fresh machine the build cache serves them all.
package testbin

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

const moduleLine = "module github.com/vitalsdev/vitals\n"

// Root is the repository's root, where `go build .` makes the binary: the
// nearest directory up from the working directory whose go.mod is vitals'.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if mod, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(mod), moduleLine) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of github.com/vitalsdev/vitals above the working directory")
		}
		dir = parent
	}
}

// Options change the build; the zero value builds as the README says
// (`go build .` in the repository's root).
type Options struct {
	Src   string   // source tree to build; the repository's root when empty
	Flags []string // extra `go build` flags, before -o
	Env   []string // extra environment, such as CGO_ENABLED=0
}

// Build compiles vitals into the file out (made absolute) and returns its
// path; the error carries the compiler's output.
func Build(out string, o Options) (string, error) {
	bin, err := filepath.Abs(out)
	if err != nil {
		return "", err
	}
	src := o.Src
	if src == "" {
		if src, err = Root(); err != nil {
			return "", err
		}
	}
	args := append([]string{"build"}, o.Flags...)
	args = append(args, "-o", bin, ".")
	cmd := exec.Command("go", args...)
	cmd.Dir = src
	cmd.Env = append(os.Environ(), o.Env...)
	if output, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, output)
	}
	return bin, nil
}
