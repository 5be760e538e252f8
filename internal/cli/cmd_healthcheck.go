package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/vitalsdev/vitals/handlers"
	"github.com/vitalsdev/vitals/internal/config"
)

// healthcheckTimeout bounds `vitals healthcheck`; the Dockerfile's
// HEALTHCHECK gives it a little more.
const healthcheckTimeout = 2 * time.Second

// cmdHealthcheck is `vitals healthcheck`: GET /health on the local server
// and exit 0 when it passes, 1 otherwise. It is the container's health
// check, so that the image needs no curl.
func cmdHealthcheck(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	spec := config.Command{
		Usage: "vitals healthcheck [flags]",
		About: "Asks the vitals server on this machine for /health (http://127.0.0.1:$PORT/health,\n" +
			"VITALS_PORT winning over PORT) and exits 0 when vitals answers 200 within 2 s, 1 otherwise:\n" +
			"a server that is not vitals (the application, on its port) fails too. The container's HEALTHCHECK.",
	}
	cfg, rest, code, done := parseCommand("vitals healthcheck", spec, []string{"PORT"}, args, getenv, stdout, stderr)
	if done {
		return code
	}
	if len(rest) > 0 {
		return usageError(stderr, spec, "vitals healthcheck: unexpected argument %q", rest[0])
	}
	if cfg.Port == 0 {
		return usageError(stderr, spec, "vitals healthcheck: PORT is 0; set the port the server listens on")
	}
	ctx, cancel := context.WithTimeout(context.Background(), healthcheckTimeout)
	defer cancel()
	url := "http://127.0.0.1:" + strconv.Itoa(cfg.Port) + "/health"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintln(stderr, "vitals healthcheck:", err)
		return exitFailed
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "vitals healthcheck:", err)
		return exitFailed
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if !isVitalsHealth(resp.Header.Get("Content-Type"), body) {
		fmt.Fprintf(stderr, "vitals healthcheck: %s answered %d, but not as vitals (no application/health+json with serviceId %q): is PORT the application's? Set VITALS_PORT to vitals' port\n",
			url, resp.StatusCode, handlers.HealthServiceID)
		return exitFailed
	}
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "vitals healthcheck: %s answered %d: %s\n", url, resp.StatusCode, body)
		return exitFailed
	}
	fmt.Fprintf(stdout, "%s\n", body)
	return exitOK
}

// isVitalsHealth reports whether a /health answer is vitals' own: its media
// type and its serviceId, which an application's health endpoint on the
// same machine does not have.
func isVitalsHealth(contentType string, body []byte) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/health+json" {
		return false
	}
	var doc struct {
		ServiceID string `json:"serviceId"`
	}
	return json.Unmarshal(body, &doc) == nil && doc.ServiceID == handlers.HealthServiceID
}
