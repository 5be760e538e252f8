// Package version holds the version of the build, set by the linker:
//
//	go build -ldflags "-X github.com/vitalsdev/vitals/internal/version.Version=1.2.3" .
package version

// Version is the release this binary was built as; "dev" when the build
// did not set it.
var Version = "dev"
