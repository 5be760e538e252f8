package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chartReady is true once htmx has taken over the chart swapped in: its
// links and form carry htmx's data and the swap has settled. A click
// before that would follow the plain link (the chart's page of its own).
const chartReady = `(() => { const c = document.getElementById("chart");
	const a = c && c.querySelector(".ranges a"), f = c && c.querySelector("form.filter");
	return !!a && !!a["htmx-internal-data"] && !!f && !!f["htmx-internal-data"] && !c.classList.contains("htmx-settling"); })()`

// stopVitals ends srv as a deploy does (SIGTERM, then its wait).
func stopVitals(t *testing.T, srv *server) {
	t.Helper()
	_ = srv.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = srv.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = srv.cmd.Process.Kill()
		<-done
	}
}

// The charts in Debian's Chromium against the real binary on SQLite: a
// first run records some samples, the binary is stopped for longer than
// two steps of the hour's chart, and a second run on the same data
// directory records more. The sparklines and the chart show the stop as a
// gap; the range switch, the event markers and axe are checked on the
// chart.
func TestChartsInBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	dir := t.TempDir()
	env := map[string]string{
		"VITALS_ADMIN_PASSWORD":   password,
		"VITALS_INGEST_TOKEN":     ingestToken,
		"VITALS_POLL_INTERVAL":    poll.String(),
		"VITALS_SAMPLE_INTERVAL":  "1s",
		"VITALS_HISTORY_INTERVAL": "5s",
		"VITALS_PROBE_TIMEOUT":    "1s",
		"VITALS_DATA_DIR":         dir,
		"VITALS_TIMEZONE":         "Europe/Moscow",
		// The same instance across the restart, as a Fly machine keeps
		// its id: its history continues.
		"FLY_MACHINE_ID":    "charts-1",
		"VITALS_LOG_FORMAT": "json",
	}
	bin := buildVitals(t)
	first := startVitals(t, bin, env)
	// Four history ticks of the first run, then a stop longer than two
	// 30 s steps, so that at least one whole step of the hour has no
	// sample.
	time.Sleep(22 * time.Second)
	stopVitals(t, first)
	time.Sleep(65 * time.Second)
	srv := startVitals(t, bin, env)

	browserCtx := startBrowser(t, chromium)
	var console consoleLog
	console.collect(browserCtx)
	p := tab{t: t, ctx: browserCtx}
	p.do(chromedp.EmulateViewport(1280, 900))
	p.signIn(srv.URL, password)
	p.wait("the dashboard", `location.pathname === "/" && !!document.querySelector("#cards")`, 10*time.Second)

	// The cards whose figure the history records on this machine (SQLite:
	// no connections card, no Redis, no HTTP target configured).
	withData := []string{"card-cpu", "card-memory", "card-disk-0", "card-load", "card-network", "card-db-latency"}
	ids := `["` + strings.Join(withData, `","`) + `"]`
	t.Run("every card with data has a sparkline, with the stop as a gap", func(t *testing.T) {
		p := tab{t: t, ctx: browserCtx}
		// Both runs' samples: two subpaths at least in every line.
		p.wait("sparklines with a gap", `(`+ids+`).every(id => {
			const path = document.querySelector("#" + id + " a.sparkl svg.spark path");
			return path && (path.getAttribute("d").match(/M/g) || []).length >= 2;
		})`, 60*time.Second)
		if w := eval[float64](p, `document.querySelector("#card-cpu svg.spark").getBoundingClientRect().width`); w < 100 {
			t.Errorf("the CPU sparkline is %.0f px wide", w)
		}
		// Every card that shows one is a link to its chart.
		if n := eval[int](p, `[...document.querySelectorAll("#cards a.sparkl")].filter(a => !a.getAttribute("href").startsWith("/partials/chart?")).length`); n != 0 {
			t.Errorf("%d sparklines do not link to a chart", n)
		}
	})

	t.Run("the chart opens from a card and shows the gap", func(t *testing.T) {
		p := tab{t: t, ctx: browserCtx}
		p.wait("the sparkline under htmx", `(() => { const a = document.querySelector("#card-cpu a.sparkl");
			return !!a && !!a["htmx-internal-data"] && !document.querySelector("#cards.htmx-settling, #cards.htmx-request"); })()`, 10*time.Second)
		p.do(chromedp.Focus(chromedp.CSS(`#card-cpu a.sparkl`)))
		if !eval[bool](p, `document.activeElement === document.querySelector("#card-cpu a.sparkl")`) {
			t.Fatal("the sparkline's link takes no focus")
		}
		// The keyboard opens it: Enter on the focused link.
		p.do(chromedp.KeyEvent("\r"))
		p.wait("the chart", `!!document.querySelector("#chart:not([hidden]) svg.plot path.line")`, 15*time.Second)
		if n := eval[int](p, `(document.querySelector("#chart path.line").getAttribute("d").match(/M/g) || []).length`); n < 2 {
			t.Errorf("the chart's line has %d runs, want the stop as a gap", n)
		}
		if n := eval[int](p, `document.querySelectorAll("#chart td.gap").length`); n < 2 {
			t.Errorf("the chart's table says %d steps had no samples", n)
		}
		if n := eval[int](p, `document.querySelectorAll("#chart rect.hit title").length`); n != 120 {
			t.Errorf("%d hover titles, want one per 30 s step", n)
		}
		if !eval[bool](p, `!!document.querySelector("#chart line.th-warn") && !!document.querySelector("#chart line.th-crit")`) {
			t.Error("no limit lines on the CPU chart")
		}
	})

	t.Run("the range switch", func(t *testing.T) {
		p := tab{t: t, ctx: browserCtx}
		p.wait("the chart under htmx", chartReady, 10*time.Second)
		p.do(chromedp.Click(chromedp.CSS(`#chart .ranges a[href*="range=6h"]`)))
		p.wait("the 6h chart", `(() => { const a = document.querySelector("#chart .ranges a[aria-current]");
			return a && a.href.includes("range=6h") && document.querySelectorAll("#chart rect.hit").length === 180 &&
				!!document.querySelector("#chart path.band"); })()`, 15*time.Second)
		p.wait("the 6h chart under htmx", chartReady, 10*time.Second)
		p.do(chromedp.Click(chromedp.CSS(`#chart .ranges a[href*="range=24h"]`)))
		p.wait("the 24h chart", `document.querySelectorAll("#chart rect.hit").length === 288`, 15*time.Second)
		if eval[string](p, `location.pathname`) != "/" {
			t.Error("the range switch left the page")
		}
	})

	t.Run("an event posted through the API is a marker", func(t *testing.T) {
		p := tab{t: t, ctx: browserCtx}
		if err := postEvent(t.Context(), srv.URL, ingestToken, `{"type":"stream_started","message":"Эфир начат"}`); err != nil {
			t.Fatal(err)
		}
		// The hour's chart is read again within seconds (its cache is a
		// tenth of its step): click until the marker is there.
		p.wait("the marker", `(() => {
			const m = document.querySelector("#chart g.mk rect title");
			if (m && m.textContent.includes("Stream started")) return true;
			const a = document.querySelector('#chart .ranges a[href*="range=1h"]');
			if (a && a["htmx-internal-data"] && !document.querySelector("#chart.htmx-swapping, #chart.htmx-settling, .htmx-request")) a.click();
			return false; })()`, 20*time.Second)
		// A chip limits the markers to the types it names.
		p.wait("the 1h chart under htmx", chartReady, 10*time.Second)
		p.do(chromedp.Click(chromedp.CSS(`#chart label.chip:has(input[value="track_added"])`)))
		p.wait("no stream marker under the track chip", `(() => { const c = document.querySelector('#chart .chips input[value="track_added"]');
			return c && c.checked && document.querySelectorAll("#chart g.mk").length === 0; })()`, 15*time.Second)
		p.wait("the filtered chart under htmx", chartReady, 10*time.Second)
		p.do(chromedp.Click(chromedp.CSS(`#chart label.chip:has(input[value="track_added"])`)))
		p.wait("the marker back", `document.querySelectorAll("#chart g.mk").length >= 1`, 15*time.Second)
		if eval[string](p, `location.pathname`) != "/" {
			t.Error("the chips left the page")
		}
	})

	t.Run("the chart passes axe in both themes and fits 360 px", func(t *testing.T) {
		p := tab{t: t, ctx: browserCtx}
		eval[bool](p, `document.querySelector("#chart details.cdata").open = true`)
		p.do(chromedp.ScrollIntoView(chromedp.CSS(`#chart`)))
		p.scheme(false)
		p.axe("the chart, light")
		p.screenshot("chart-light.png", false)
		p.scheme(true)
		p.axe("the chart, dark")
		p.screenshot("chart-dark.png", false)
		p.scheme(false)
		p.do(chromedp.EmulateViewport(360, 740))
		p.wait("the narrow chart", `document.querySelector("#chart svg.plot").getBoundingClientRect().width > 200`, 10*time.Second)
		if over := eval[float64](p, `document.documentElement.scrollWidth - document.documentElement.clientWidth`); over > 1 {
			t.Errorf("at 360 px the page scrolls %.0f px sideways", over)
		}
		p.axe("the chart at 360 px")
		p.screenshot("chart-360.png", false)
		p.do(chromedp.EmulateViewport(1280, 900))
	})

	t.Run("the chart closes", func(t *testing.T) {
		p := tab{t: t, ctx: browserCtx}
		p.wait("the chart under htmx", chartReady, 10*time.Second)
		p.do(chromedp.Click(chromedp.CSS(`#chart .chead a.btn`)))
		p.wait("the chart closed", `(() => { const c = document.getElementById("chart"); return c && c.hidden && !c.querySelector("svg"); })()`, 10*time.Second)
	})

	for _, m := range console.all() {
		if strings.Contains(m.Text, "Content Security Policy") || strings.Contains(m.Text, "Refused to") {
			t.Errorf("console: %s", m.Text)
		}
	}
}
