// Command vitals shows the admins of a small web service the truth about
// their system: real CPU, memory and disk figures (right inside containers),
// PostgreSQL and Redis health, API latency, and a feed of what happened in
// the application, on a server-rendered admin page. The commands live in
// internal/cli, the server's lifecycle in internal/app.
package main

import (
	"os"

	"github.com/vitalsdev/vitals/internal/cli"
)

func main() {
	os.Exit(cli.Main())
}
