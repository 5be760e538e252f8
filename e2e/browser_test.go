package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

const (
	password    = "browser-test-password"
	ingestToken = "browser-test-ingest-token-0123456789"
	// poll is VITALS_POLL_INTERVAL, shortened so that the test sees
	// refreshes within seconds.
	poll = 2 * time.Second
)

// tab is one browser tab with the helpers the steps use.
type tab struct {
	t   *testing.T
	ctx context.Context
}

func (p tab) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatal(err)
	}
}

// submit clicks a button that posts a form and waits for the page it
// leads to.
func (p tab) submit(sel string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		p.t.Fatalf("submit %s: %v", sel, err)
	}
}

func eval[T any](p tab, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// wait waits until a JavaScript expression is truthy.
func (p tab) wait(what, expr string, timeout time.Duration) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, timeout+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(timeout))); err != nil {
		p.t.Fatalf("waiting for %s: %v\npage: %s", what, err, eval[string](p, `document.body ? document.body.innerText.slice(0, 3000) : ""`))
	}
}

func (p tab) scheme(dark bool) {
	p.t.Helper()
	v := "light"
	if dark {
		v = "dark"
	}
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v}},
	}); err != nil {
		p.t.Fatal(err)
	}
}

// screenshot saves the viewport as name in the test's artifacts (go test
// -artifacts keeps them), and for the README's (docs) over docs/screenshots
// with VITALS_UPDATE_SCREENSHOTS=1.
func (p tab) screenshot(name string, docs bool) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatal(err)
	}
	dirs := []string{p.t.ArtifactDir()}
	if docs && os.Getenv("VITALS_UPDATE_SCREENSHOTS") == "1" {
		dirs = append(dirs, filepath.Join("..", "docs", "screenshots"))
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			p.t.Fatal(err)
		}
		path := filepath.Join(d, name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			p.t.Fatal(err)
		}
		p.t.Logf("screenshot %s (%d bytes)", path, len(png))
	}
}

// signIn fills the sign-in form, which the dashboard redirects to.
func (p tab) signIn(base, pass string) {
	p.t.Helper()
	p.do(chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#password")))
	if loc := eval[string](p, `location.pathname`); loc != "/login" {
		p.t.Fatalf("signed out, / went to %s, want /login", loc)
	}
	p.do(chromedp.SendKeys(chromedp.CSS("#password"), pass))
	p.submit(`form[action="/login"] button`)
}

// consoleLog collects what the page writes to the console, CSP violation
// reports included.
type consoleLog struct {
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

func (c *consoleLog) collect(ctx context.Context) {
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
		}
	}()
}

func (c *consoleLog) all() []chromedp.ConsoleMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]chromedp.ConsoleMessage(nil), c.msgs...)
}

// The dashboard as an admin sees it, in Debian's Chromium, against the real
// binary on a private PostgreSQL and Redis.
func TestDashboardInBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	pg := startPostgres(t)
	redisURL := startRedis(t)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
	t.Cleanup(app.Close)
	env := map[string]string{
		"DATABASE_URL":           pg.URL,
		"VITALS_ADMIN_PASSWORD":  password,
		"VITALS_INGEST_TOKEN":    ingestToken,
		"VITALS_POLL_INTERVAL":   poll.String(),
		"VITALS_SAMPLE_INTERVAL": "1s",
		"VITALS_PROBE_TIMEOUT":   "1s",
		"VITALS_HTTP_CHECKS":     "app=" + app.URL + "/health",
		"VITALS_DATA_DIR":        t.TempDir(),
		"VITALS_TIMEZONE":        "Europe/Moscow",
		"FLY_MACHINE_ID":         "demo-1",
		"FLY_REGION":             "ams",
		"VITALS_LOG_FORMAT":      "json",
	}
	if redisURL != "" {
		env["REDIS_URL"] = redisURL
	}
	srv := startVitals(t, buildVitals(t), env)
	seed := []string{
		`{"type":"user_registered","message":"Новый пользователь зарегистрировался","user_email":"anna@example.com","details":{"plan":"free"}}`,
		`{"type":"user_approved","message":"Пользователь одобрен","user_email":"anna@example.com"}`,
		`{"type":"track_added","message":"Трек «Ночь» добавлен в плейлист","user_email":"dj@example.com","details":{"track_id":42}}`,
		`{"type":"stream_started","message":"Эфир начат","details":{"bitrate":128}}`,
		`{"type":"user_rejected","message":"Пользователь отклонён","user_email":"spam@example.com"}`,
		`{"type":"track_added","message":"Трек «Утро» добавлен в плейлист","user_email":"dj@example.com"}`,
		`{"type":"stream_stopped","message":"Эфир остановлен"}`,
		`{"type":"payment.failed","message":"Card declined","user_email":"bob@example.com"}`,
	}
	for _, ev := range seed {
		if err := postEvent(t.Context(), srv.URL, ingestToken, ev); err != nil {
			t.Fatalf("seed: %v", err)
		}
	}

	allocCtx, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		// This machine's network is closed: Chromium must not try to reach
		// anything but the server under test.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.Flag("accept-lang", "en-US,en"),
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	defer cancel()
	browserCtx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	if err := chromedp.Do(browserCtx); err != nil { // starts the browser, without a deadline
		t.Fatalf("start chromium: %v", err)
	}
	var console consoleLog
	console.collect(browserCtx)
	p := tab{t: t, ctx: browserCtx}
	p.do(chromedp.EmulateViewport(1280, 900))

	if !t.Run("sign in", func(t *testing.T) {
		p := tab{t: t, ctx: browserCtx}
		p.signIn(srv.URL, password)
		p.wait("the dashboard", `location.pathname === "/" && !!document.querySelector("#cards")`, 10*time.Second)
	}) {
		return
	}

	cards := []string{"card-cpu", "card-memory", "card-disk-0", "card-load", "card-network", "card-db-connections", "card-db-latency", "card-http"}
	if redisURL != "" {
		cards = append(cards, "card-redis")
	} else {
		t.Log("no redis-server and no VITALS_TEST_REDIS_URL: the Redis card is not checked")
	}
	t.Run("every card has numbers", func(t *testing.T) {
		p := tab{t: t, ctx: browserCtx}
		ids := `["` + strings.Join(cards, `","`) + `"]`
		// The figures come with the polls: CPU and network need two
		// samples, the API's percentiles the page's own requests.
		p.wait("numbers on every card", `(`+ids+`).every(id => {
			const c = document.getElementById(id);
			return c && !c.querySelector(".reason") && /\d/.test(c.querySelector(".fig, dd, .targets").textContent);
		})`, 30*time.Second)
		states := eval[[]string](p, `[...document.querySelectorAll("#cards .card")].map(c => c.id + "=" + c.dataset.state)`)
		t.Logf("cards: %v", states)
		if txt := eval[string](p, `document.querySelector("#card-cpu .note").textContent`); !strings.Contains(txt, "cores") {
			t.Errorf("CPU card does not show its effective cores and source: %q", txt)
		}
		if n := eval[int](p, `document.querySelectorAll("#card-db-connections .legend li").length`); n != 3 {
			t.Errorf("connections card shows %d states, want 3", n)
		}
	})

	t.Run("screenshots light and dark", func(t *testing.T) {
		p := tab{t: t, ctx: browserCtx}
		p.scheme(false)
		p.screenshot("dashboard-light.png", true)
		light := eval[string](p, `getComputedStyle(document.body).backgroundColor`)
		p.scheme(true)
		p.wait("the dark scheme", `getComputedStyle(document.body).backgroundColor === "rgb(16, 20, 27)"`, 5*time.Second)
		p.screenshot("dashboard-dark.png", true)
		p.scheme(false)
		if light == "rgb(16, 20, 27)" {
			t.Error("the light scheme is dark")
		}
	})

	t.Run("a posted event appears without a reload", func(t *testing.T) {
		p := tab{t: t, ctx: browserCtx}
		eval[bool](p, `window.vitalsTestMarker = true`)
		msg := fmt.Sprintf("Browser test event %d", time.Now().UnixNano())
		if err := postEvent(t.Context(), srv.URL, ingestToken, `{"type":"user_registered","message":"`+msg+`","user_email":"new@example.com"}`); err != nil {
			t.Fatal(err)
		}
		p.wait("the event in the feed", `document.querySelector("#feed-head").textContent.includes("`+msg+`")`, 4*poll+5*time.Second)
		if !eval[bool](p, `window.vitalsTestMarker === true`) {
			t.Fatal("the page was reloaded: the marker set before the poll is gone")
		}
		if txt := eval[string](p, `document.getElementById("updated").textContent`); !strings.HasPrefix(txt, "updated ") || !strings.HasSuffix(txt, " s ago") {
			t.Errorf("updated text: %q", txt)
		}
	})

	t.Run("a type filter narrows the feed", func(t *testing.T) {
		p := tab{t: t, ctx: browserCtx}
		p.do(chromedp.Click(chromedp.CSS(`label.chip:has(input[value="track_added"])`)))
		p.wait("only tracks", `(() => { const ts = [...document.querySelectorAll("#feed-head li .t")].map(b => b.textContent);
			return ts.length === 2 && ts.every(t => t === "Track added"); })()`, 10*time.Second)
		p.do(chromedp.Click(chromedp.CSS(`label.chip:has(input[value="track_added"])`)))
		p.wait("every type again", `document.querySelectorAll("#feed-head li").length >= 9`, 10*time.Second)
		if !eval[bool](p, `window.vitalsTestMarker === true`) {
			t.Error("filtering reloaded the page")
		}
	})

	t.Run("details open on demand", func(t *testing.T) {
		p := tab{t: t, ctx: browserCtx}
		// The oldest event, the first registration, carries {"plan": "free"}.
		p.do(chromedp.Click(chromedp.CSS(`#feed-head li:last-child details summary`)))
		p.wait("the details", `(document.querySelector("#feed-head li:last-child .dt pre") || {}).textContent === "{\n  \"plan\": \"free\"\n}"`, 10*time.Second)
	})

	t.Run("Russian", func(t *testing.T) {
		p := tab{t: t, ctx: browserCtx}
		p.submit(`button[name="lang"][value="ru"]`)
		p.wait("the Russian page", `document.documentElement.lang === "ru"`, 10*time.Second)
		text := eval[string](p, `document.body.innerText`)
		for _, want := range []string{"Процессор", "Память", "Подключения к базе", "События", "Обновить", "Выйти", "Регистрация", "Трек добавлен", "обновлено"} {
			if !strings.Contains(text, want) {
				t.Errorf("the Russian page lacks %q", want)
			}
		}
		for _, english := range []string{"Memory", "Activity", "Sign out", "Load more"} {
			if strings.Contains(text, english) {
				t.Errorf("the Russian page shows %q", english)
			}
		}
		p.screenshot("dashboard-ru.png", true)
		// The choice is remembered: a fresh load stays Russian.
		p.do(chromedp.Navigate(srv.URL + "/"))
		if lang := eval[string](p, `document.documentElement.lang`); lang != "ru" {
			t.Errorf("after a reload the page is %q", lang)
		}
		p.submit(`button[name="lang"][value="en"]`)
		p.wait("the English page", `document.documentElement.lang === "en"`, 10*time.Second)
	})

	t.Run("theme toggle", func(t *testing.T) {
		p := tab{t: t, ctx: browserCtx}
		p.submit(`button[name="theme"][value="dark"]`)
		p.wait("the dark theme", `document.documentElement.dataset.theme === "dark" && getComputedStyle(document.body).backgroundColor === "rgb(16, 20, 27)"`, 10*time.Second)
		p.submit(`button[name="theme"][value="system"]`)
		p.wait("the system theme", `!document.documentElement.dataset.theme`, 10*time.Second)
	})

	t.Run("usable at 360 px", func(t *testing.T) {
		p := tab{t: t, ctx: browserCtx}
		p.do(chromedp.EmulateViewport(360, 780))
		defer p.do(chromedp.EmulateViewport(1280, 900))
		p.wait("the narrow layout", `window.innerWidth === 360`, 5*time.Second)
		p.screenshot("dashboard-360.png", true)
		if w := eval[int](p, `document.documentElement.scrollWidth`); w > 360 {
			t.Errorf("the page is %d px wide at 360 px: it scrolls sideways", w)
		}
	})

	t.Run("ten wrong passwords are rate limited", func(t *testing.T) {
		// A second browser, with no session, from the same address.
		ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
		defer cancel()
		if err := chromedp.Do(ctx); err != nil { // opens the tab, without a deadline
			t.Fatal(err)
		}
		q := tab{t: t, ctx: ctx}
		for i := range 10 {
			q.signIn(srv.URL, fmt.Sprintf("wrong-%d", i))
		}
		text := eval[string](q, `document.querySelector(".error").textContent`)
		if !strings.Contains(text, "Too many failed sign-ins from your address. Try again in 15 minutes.") {
			t.Fatalf("after ten wrong passwords: %q", text)
		}
		q.signIn(srv.URL, password)
		if eval[string](q, `location.pathname`) != "/login" {
			t.Fatal("the right password got in during the lock-out")
		}
		// The admin's open dashboard shows the lock-out at its next poll.
		p := tab{t: t, ctx: browserCtx}
		p.wait("the lock-out in the feed", `document.querySelector("#feed-head").textContent.includes("Sign-in locked")`, 4*poll+5*time.Second)
	})

	t.Run("database cards turn red down when PostgreSQL stops", func(t *testing.T) {
		p := tab{t: t, ctx: browserCtx}
		eval[bool](p, `window.vitalsTestMarker = true`)
		pg.stop(t)
		// The reason is the card's own visible text, not a tooltip.
		p.wait("down on the database cards", `["card-db-connections", "card-db-latency"].every(id => {
			const c = document.getElementById(id), r = c && c.querySelector(".reason");
			return c.dataset.state === "down" && r && r.offsetParent !== null && r.textContent.trim() !== "";
		})`, 20*time.Second)
		if c := eval[string](p, `getComputedStyle(document.getElementById("card-db-latency")).borderLeftColor`); c == eval[string](p, `getComputedStyle(document.getElementById("card-cpu")).borderLeftColor`) && eval[string](p, `document.getElementById("card-cpu").dataset.state`) == "ok" {
			t.Errorf("a down card has an ok card's colour %s", c)
		}
		p.wait("the header and the tab title say 1 down", `document.getElementById("summary").textContent.includes("1 down") && document.title.startsWith("1 down")`, 4*poll+5*time.Second)
		if href := eval[string](p, `document.getElementById("favicon").getAttribute("href")`); !strings.Contains(href, "favicon-down") {
			t.Errorf("favicon %q while the database is down", href)
		}
		p.wait("the feed's note", `document.querySelector("#feed-head").textContent.includes("The activity feed is unavailable")`, 4*poll+5*time.Second)
		p.screenshot("dashboard-db-down.png", true)
		if n := eval[int](p, `document.querySelectorAll("#cards .card.s-down:not(#card-db-connections):not(#card-db-latency)").length`); n != 0 {
			t.Errorf("%d other cards went down with the database", n)
		}
		// Still the same page: nothing reloaded it.
		if !eval[bool](p, `window.vitalsTestMarker === true`) {
			t.Error("the page was reloaded")
		}
	})

	t.Run("no CSP violation in the console", func(t *testing.T) {
		for _, m := range console.all() {
			text := m.Text
			if strings.Contains(text, "Content Security Policy") || strings.Contains(text, "Content-Security-Policy") || strings.Contains(text, "Refused to") {
				t.Errorf("CSP violation: %s", m)
			}
			if m.IsException() {
				t.Errorf("uncaught exception: %s", m)
			}
			if m.Type == chromedp.ConsoleError {
				t.Logf("console error: %s (%s)", m, m.URL)
			}
		}
	})

	t.Run("the page says connection lost when vitals stops", func(t *testing.T) {
		p := tab{t: t, ctx: browserCtx}
		_ = srv.cmd.Process.Signal(syscall.SIGTERM)
		// Within one poll interval (and the poll's own timeout): said,
		// figures dimmed, the title changed.
		p.wait("connection lost", `document.getElementById("updated").textContent.includes("connection lost since") &&
			document.body.classList.contains("lost") && document.title.startsWith("connection lost")`, poll+3*time.Second)
		if o := eval[string](p, `getComputedStyle(document.querySelector("#cards .card .fig")).opacity`); o == "1" {
			t.Errorf("figures not dimmed: opacity %s", o)
		}
	})
}
