package cli

import (
	"archive/zip"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// clientModule is the Go client's module path, as an application imports
// it.
const clientModule = "github.com/vitalsdev/vitals/client"

// `go get github.com/vitalsdev/vitals/client` works: the client folder,
// served as a module proxy serves a published version, is fetched into a
// scratch application, which builds and runs against it. Offline: the proxy
// is a GOPROXY=file:// directory the test writes, the checksum database is
// off, the module cache is the test's own.
func TestClientGoGettable(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not installed")
	}
	const version = "v0.0.1"
	proxy := t.TempDir()
	writeModuleProxy(t, proxy, filepath.Join(moduleRoot(t), "client"), clientModule, version)

	cache := t.TempDir()
	// The module cache is read-only; t.TempDir's removal needs it writable.
	t.Cleanup(func() { _ = exec.Command("chmod", "-R", "u+w", cache).Run() })
	app := t.TempDir()
	writeFile(t, filepath.Join(app, "go.mod"), "module example.com/radio\n\ngo 1.24\n")
	writeFile(t, filepath.Join(app, "main.go"), `package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vitalsdev/vitals/client"
)

func main() {
	c, err := client.New(client.Config{URL: "http://127.0.0.1:1", Token: "token"})
	if err != nil {
		panic(err)
	}
	err = c.Log(context.Background(), client.Event{Type: "Not A Type", Message: "refused before sending"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.Close(ctx)
	fmt.Println("invalid event refused:", errors.Is(err, client.ErrInvalidEvent))
}
`)
	env := append(os.Environ(),
		"GOPROXY=file://"+filepath.ToSlash(proxy),
		"GOSUMDB=off", "GONOSUMDB=github.com/vitalsdev",
		"GOPRIVATE=", "GONOPROXY=", "GOINSECURE=",
		"GOFLAGS=-mod=mod", "GOWORK=off", "GOTOOLCHAIN=local",
		"GOMODCACHE="+cache, "GOPATH="+filepath.Join(cache, "gopath"),
		"CGO_ENABLED=0",
	)
	goCmd := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(goBin, args...)
		cmd.Dir, cmd.Env = app, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	goCmd("get", clientModule+"@"+version)
	goCmd("build", "-o", "radio", ".")

	mod, err := os.ReadFile(filepath.Join(app, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mod), clientModule+" "+version) {
		t.Errorf("go.mod does not require %s %s:\n%s", clientModule, version, mod)
	}
	sum, err := os.ReadFile(filepath.Join(app, "go.sum"))
	if err != nil || !strings.Contains(string(sum), clientModule+" "+version+" h1:") {
		t.Errorf("go.sum has no hash of the client's zip: %v\n%s", err, sum)
	}
	out, err := exec.Command(filepath.Join(app, "radio")).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "invalid event refused: true" {
		t.Fatalf("the application built against the fetched client: %v\n%s", err, out)
	}
}

// writeModuleProxy writes version of the module in src into dir laid out
// as a GOPROXY serves it: $module/@v/list, .info, .mod and .zip.
func writeModuleProxy(t *testing.T, dir, src, module, version string) {
	t.Helper()
	v := filepath.Join(dir, filepath.FromSlash(module), "@v")
	if err := os.MkdirAll(v, 0o755); err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(src, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(gomod), "module "+module+"\n") {
		t.Fatalf("%s/go.mod is not module %s", src, module)
	}
	writeFile(t, filepath.Join(v, "list"), version+"\n")
	writeFile(t, filepath.Join(v, version+".info"), `{"Version":"`+version+`","Time":"`+time.Now().UTC().Format(time.RFC3339)+`"}`)
	writeFile(t, filepath.Join(v, version+".mod"), string(gomod))
	writeModuleZip(t, filepath.Join(v, version+".zip"), src, module+"@"+version)
}

// writeModuleZip writes the module zip of the tree at src: every regular
// file under the prefix module@version/, less what the go command leaves
// out of a module (version control directories, nested modules, vendor
// directories below the root).
func writeModuleZip(t *testing.T, path, src, prefix string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch {
			case rel == ".":
				return nil
			case d.Name() == ".git" || d.Name() == ".hg" || d.Name() == ".svn" || d.Name() == "vendor":
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
				return filepath.SkipDir // another module
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		w, err := zw.Create(prefix + "/" + filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
