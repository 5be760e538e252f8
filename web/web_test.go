package web

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/storage"
)

func newSite(t *testing.T) *Site {
	t.Helper()
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Both catalogues hold the same keys, plural ones in both or neither, so
// no string falls back to a key in either language.
func TestCataloguesMatch(t *testing.T) {
	s := newSite(t)
	en, ru := s.Catalog(English), s.Catalog(Russian)
	if strings.Join(en.Keys(), "\n") != strings.Join(ru.Keys(), "\n") {
		for _, k := range en.Keys() {
			if !ru.Has(k) {
				t.Errorf("ru lacks %q", k)
			}
		}
		for _, k := range ru.Keys() {
			if !en.Has(k) {
				t.Errorf("en lacks %q", k)
			}
		}
	}
	for _, k := range en.Keys() {
		if (en.Forms(k) == nil) != (ru.Forms(k) == nil) {
			t.Errorf("%q is plural in one catalogue only", k)
		}
	}
}

// Every key the templates and the code name is in the catalogues.
func TestEveryKeyIsInTheCatalogues(t *testing.T) {
	s := newSite(t)
	keys := map[string]bool{}
	re := regexp.MustCompile(`\b(?:t|tn|form) "([a-z_.]+)"`)
	err := fs.WalkDir(templateFS, "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := templateFS.ReadFile(p)
		for _, m := range re.FindAllSubmatch(b, -1) {
			keys[string(m[1])] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) < 40 {
		t.Fatalf("found only %d keys in the templates", len(keys))
	}
	for _, st := range probes.Levels() {
		keys["state."+string(st)] = true
	}
	for _, k := range []string{"sum.down", "sum.critical", "sum.warning", "sum.stale"} {
		keys[k] = true
	}
	for _, et := range EventTypes() {
		keys[et.Key] = true
	}
	for _, k := range binaryUnits() {
		keys[k] = true
	}
	for _, k := range []string{"na", "chip.own", "fmt.percent", "fmt.ms", "fmt.size", "fmt.per_second",
		"time.just_now", "time.seconds_ago", "time.minutes_ago", "time.hours_ago", "time.days_ago",
		"login.wrong", "login.locked", "login.expired_form", "login.unavailable"} {
		keys[k] = true
	}
	for _, lang := range Langs() {
		c := s.Catalog(lang)
		for k := range keys {
			if !c.Has(k) {
				t.Errorf("%s catalogue lacks %q", lang, k)
			}
		}
	}
}

func TestPluralCategory(t *testing.T) {
	cases := []struct {
		lang Lang
		n    int
		want string
	}{
		{English, 0, PluralOther}, {English, 1, PluralOne}, {English, 2, PluralOther}, {English, 21, PluralOther},
		{Russian, 0, PluralMany}, {Russian, 1, PluralOne}, {Russian, 2, PluralFew}, {Russian, 4, PluralFew},
		{Russian, 5, PluralMany}, {Russian, 11, PluralMany}, {Russian, 12, PluralMany}, {Russian, 14, PluralMany},
		{Russian, 21, PluralOne}, {Russian, 22, PluralFew}, {Russian, 25, PluralMany}, {Russian, 101, PluralOne},
		{Russian, 111, PluralMany}, {Russian, 112, PluralMany}, {Russian, 122, PluralFew},
	}
	for _, tc := range cases {
		if got := PluralCategory(tc.lang, tc.n); got != tc.want {
			t.Errorf("%s %d: %s, want %s", tc.lang, tc.n, got, tc.want)
		}
	}
}

// The issue's own examples: 1 минуту, 2 минуты, 5 минут.
func TestRussianRelativeTimes(t *testing.T) {
	f := formatter{c: newSite(t).Catalog(Russian)}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	cases := map[time.Duration]string{
		3 * time.Second:  "только что",
		30 * time.Second: "30 секунд назад",
		time.Minute:      "1 минуту назад",
		2 * time.Minute:  "2 минуты назад",
		5 * time.Minute:  "5 минут назад",
		11 * time.Minute: "11 минут назад",
		21 * time.Minute: "21 минуту назад",
		22 * time.Minute: "22 минуты назад",
		time.Hour:        "1 час назад",
		3 * time.Hour:    "3 часа назад",
		48 * time.Hour:   "2 дня назад",
		-time.Minute:     "только что",
	}
	for d, want := range cases {
		if got := f.Ago(now, now.Add(-d)); got != want {
			t.Errorf("%s: %q, want %q", d, got, want)
		}
	}
	en := formatter{c: newSite(t).Catalog(English)}
	if got := en.Ago(now, now.Add(-2*time.Minute)); got != "2 minutes ago" {
		t.Errorf("en: %q", got)
	}
	if got := en.Ago(now, now.Add(-time.Minute)); got != "1 minute ago" {
		t.Errorf("en: %q", got)
	}
}

func ptr[T any](v T) *T { return &v }

func TestFormatting(t *testing.T) {
	s := newSite(t)
	en, ru := formatter{c: s.Catalog(English)}, formatter{c: s.Catalog(Russian)}
	cases := []struct{ got, want string }{
		{en.percent(ptr(12.46)), "12.5 %"},
		{ru.percent(ptr(12.46)), "12,5 %"},
		{en.percent(nil), "N/A"},
		{en.figure(probes.UnitCores, ptr(2.0)), "2"},
		{ru.figure(probes.UnitCores, ptr(0.5)), "0,5"},
		{en.figure(probes.UnitCores, ptr(1.25)), "1.25"},
		{en.figure(probes.UnitCores, ptr(10.0)), "10"},
		{ru.percent(nil), "Н/Д"},
		{en.bytes(ptr(uint64(512))), "512 B"},
		{en.bytes(ptr(uint64(1536))), "1.5 KiB"},
		{ru.bytes(ptr(uint64(3 << 30))), "3,0 ГиБ"},
		{en.millis(ptr(0.412)), "0.41 ms"},
		{en.millis(ptr(4.25)), "4.2 ms"},
		{ru.millis(ptr(125.0)), "125 мс"},
		{en.rate(ptr(2048.0)), "2.0 KiB/s"},
		{en.num(ptr(-0.001)), "0.00"},
		{attrNumber(ptr(33.3333)), "33.33"},
		{attrNumber((*float64)(nil)), ""},
		{en.typeLabel("user_registered"), "Registered"},
		{ru.typeLabel("track_added"), "Трек добавлен"},
		{ru.typeLabel("payment.failed"), "payment.failed"},
		{TypeIcon("payment.failed"), OtherIcon},
		{Clock(time.FixedZone("MSK", 3*3600), time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)), "2026-01-02 13:00:00 MSK"},
	}
	for i, tc := range cases {
		// Numbers and units are held together by no-break spaces.
		if got := strings.ReplaceAll(tc.got, "\u00a0", " "); got != tc.want {
			t.Errorf("%d: %q, want %q", i, got, tc.want)
		}
	}
	if !strings.Contains(ru.percent(ptr(40.0)), "40,0\u00a0%") {
		t.Error("a percentage may break before its sign")
	}
}

func TestConnectionBar(t *testing.T) {
	d := probes.Database{Connections: ptr(int64(10)), MaxConnections: ptr(int64(100)),
		ConnectionsActive: ptr(int64(2)), ConnectionsIdle: ptr(int64(5)), ConnectionsIdleInTransaction: ptr(int64(1))}
	b := ConnectionBar(d)
	want := Bar{Active: Segment{0, 2}, Idle: Segment{2, 5}, InTx: Segment{7, 1}, Other: Segment{8, 2}, OtherN: 2}
	if b != want {
		t.Fatalf("%+v, want %+v", b, want)
	}
	// On a shared server the bar is every session of the server: the other
	// databases' 30 lengthen the last segment, which the thresholds judge.
	d.ServerConnections = ptr(int64(40))
	if b, want := ConnectionBar(d), (Bar{Active: Segment{0, 2}, Idle: Segment{2, 5}, InTx: Segment{7, 1}, Other: Segment{8, 32}, OtherN: 32}); b != want {
		t.Fatalf("server-wide: %+v, want %+v", b, want)
	}
	d.ServerConnections = nil
	// More sessions than the maximum (superusers' reserve) never overflow.
	d.Connections, d.ConnectionsIdle = ptr(int64(130)), ptr(int64(127))
	b = ConnectionBar(d)
	if end := b.Other.X + b.Other.W; end > 100.0001 {
		t.Fatalf("bar ends at %v", end)
	}
	if ConnectionBar(probes.Database{}) != (Bar{}) {
		t.Fatal("unknown figures drew a bar")
	}
}

func TestCursorRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 26, 10, 15, 30, 123456000, time.UTC)
	c, ok := ParseCursor(FormatCursor(at, 42))
	if !ok || !c.CreatedAt.Equal(at) || c.ID != 42 {
		t.Fatalf("%+v %v", c, ok)
	}
	for _, bad := range []string{"", "x", "1-", "-1", "1-x", "0-1", "5-0", "1-2-3"} {
		if _, ok := ParseCursor(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestChips(t *testing.T) {
	chips := Chips([]string{"user_approved", "payment.failed", "admin.signed_in"})
	byValue := map[string]Chip{}
	for _, c := range chips {
		byValue[c.Value] = c
	}
	if len(byValue) != len(chips) {
		t.Fatalf("duplicate chips: %+v", chips)
	}
	if !byValue["user_approved"].Checked || byValue["user_registered"].Checked {
		t.Error("seed chips")
	}
	if c, ok := byValue["payment.failed"]; !ok || !c.Checked || c.Key != "" || c.Icon != OtherIcon {
		t.Errorf("other type chip: %+v", c)
	}
	if c, ok := byValue["admin.signed_in"]; !ok || !c.Checked || byValue[OwnChip()].Checked {
		t.Errorf("a single sign-in type: %+v", c)
	}
	all := Chips(strings.Split(OwnChip(), ","))
	if len(all) != 7 || !all[6].Checked || all[6].Value != OwnChip() {
		t.Errorf("vitals' own group: %+v", all)
	}
}

func fullSnapshot() probes.Snapshot {
	ok := probes.StatusOK
	return probes.Snapshot{
		CollectedAt: time.Date(2026, 11, 26, 10, 15, 30, 0, time.UTC),
		Instance:    probes.Instance{ID: "vm-1", Region: "ams"},
		CPU:         probes.CPU{Status: ok, Percent: ptr(95.0), Cores: ptr(0.5), Source: probes.SourceCgroupV2, ThrottledPercent: ptr(3.0)},
		Memory:      probes.Memory{Status: ok, Percent: ptr(41.2), UsedBytes: ptr(uint64(200 << 20)), TotalBytes: ptr(uint64(512 << 20)), Source: probes.SourceCgroupV1},
		Disk: []probes.Disk{
			{Status: ok, Path: "/", Fstype: "ext4", Percent: ptr(85.0), UsedBytes: ptr(uint64(1 << 30)), TotalBytes: ptr(uint64(2 << 30)), Data: true},
			{Status: probes.StatusUnavailable, Path: "/mnt", Reason: "permission denied"},
		},
		Database: probes.Database{Status: ok, Backend: "postgres", Connections: ptr(int64(7)), MaxConnections: ptr(int64(100)),
			ConnectionsStatus: ok, ConnectionsPercent: ptr(7.0), ConnectionsActive: ptr(int64(2)), ConnectionsIdle: ptr(int64(4)), ConnectionsIdleInTransaction: ptr(int64(1)),
			LatencyMS: ptr(0.41), SizeBytes: ptr(int64(9 << 20)), Partial: true, PartialReason: "role lacks pg_monitor"},
		Redis:   probes.Redis{Status: ok, LatencyMS: ptr(0.2), ConnectedClients: ptr(int64(3)), UsedMemoryBytes: ptr(uint64(1 << 20))},
		Load:    probes.Load{Status: ok, Load1: ptr(0.5), Load5: ptr(0.4), Load15: ptr(0.3), Cores: ptr(2.0), Load5PerCore: ptr(0.2)},
		Network: probes.Network{Status: ok, ReceiveBytesPerSecond: ptr(1024.0), TransmitBytesPerSecond: ptr(2048.0), Interfaces: ptr(int64(2))},
		HTTP: []probes.HTTPTarget{{Status: ok, Name: "api", URL: "http://app/health", Code: ptr(200), Healthy: ptr(true), LatencyMS: ptr(12.0)},
			{Status: probes.StatusUnavailable, Name: "cdn", URL: "http://cdn/", Reason: "timed out after 2s"}},
		API: probes.API{Status: ok, WindowSeconds: ptr(300.0), Requests: ptr(uint64(21)), ErrorPercent: ptr(0.0), P50MS: ptr(1.0), P95MS: ptr(4.0), P99MS: ptr(9.0)},
		App: probes.App{Status: ok, WindowSeconds: ptr(300.0), AppFigures: probes.AppFigures{Requests: ptr(uint64(420)), RatePerSecond: ptr(1.4), ErrorPercent: ptr(0.5),
			P50MS: ptr(3.0), P95MS: ptr(1250.0), P99MS: ptr(2100.0)}},
		AppRoutes: []probes.AppRoute{
			{Status: ok, Name: "GET /reports/{name}", Method: "GET", Route: "/reports/{name}", AppFigures: probes.AppFigures{Requests: ptr(uint64(20)), P95MS: ptr(2050.0)}},
			{Status: ok, Name: "POST /playlist/tracks", Method: "POST", Route: "/playlist/tracks", AppFigures: probes.AppFigures{Requests: ptr(uint64(400)), P95MS: ptr(4.0)}},
		},
	}
}

func downSnapshot() probes.Snapshot {
	na := probes.StatusUnavailable
	return probes.Snapshot{
		CPU: probes.CPU{Status: na, Reason: "warming up"}, Memory: probes.Memory{Status: na, Reason: "no /proc/meminfo"},
		Disk: []probes.Disk{}, Database: probes.Database{Status: na, Backend: "postgres", Reason: "ping: connection refused"},
		Redis: probes.Redis{Status: probes.StatusNotConfigured, Reason: "REDIS_URL is not set"}, Load: probes.Load{Status: na, Reason: "x"},
		Network: probes.Network{Status: na, Reason: "warming up"}, API: probes.API{Status: probes.StatusOK, WindowSeconds: ptr(300.0), Requests: ptr(uint64(0))},
		HTTP: []probes.HTTPTarget{},
	}
}

// Every template renders in both languages, with every group up and with
// every group down, and never puts an inline style or script on the page.
func TestTemplatesRender(t *testing.T) {
	s := newSite(t)
	email := "anna@example.com"
	events := []storage.Event{
		{ID: 2, Type: "user_registered", Message: "Новый пользователь <b>", UserEmail: &email, Details: json.RawMessage(`{"plan":"free"}`), CreatedAt: time.Now().Add(-2 * time.Minute)},
		{ID: 1, Type: "payment.failed", Message: "card declined", CreatedAt: time.Now().Add(-time.Hour)},
	}
	for _, lang := range Langs() {
		for name, snap := range map[string]probes.Snapshot{"up": fullSnapshot(), "down": downSnapshot()} {
			snap.Assess(DefaultThresholds())
			page := Page{Lang: lang, Snapshot: &snap, Limits: DefaultThresholds(), Now: time.Now(), Location: time.UTC,
				PollSeconds: 30, Backend: "postgres", CSRF: "token", Back: "/",
				Channels: []Channel{{ID: "webhook-ab12", Label: "webhook https://hooks.example.com"}},
				Feed:     Feed{Events: events, Items: s.Items(lang, time.Now(), time.UTC, events), Chips: Chips(nil), NewURL: "/partials/events", NewCount: 60, ShowURL: "/partials/feed", OlderURL: "/partials/events/older?before=1-1"}}
			for _, tmpl := range []string{"page", "cards", "feed", "news", "older", "login"} {
				var buf bytes.Buffer
				if err := s.Render(&buf, lang, tmpl, page); err != nil {
					t.Fatalf("%s %s %s: %v", lang, name, tmpl, err)
				}
				out := buf.String()
				if strings.Contains(out, "style=") || strings.Contains(out, "<style") || regexp.MustCompile(`<script>|<script [^s]|\son[a-z]+=`).MatchString(out) {
					t.Errorf("%s %s %s: inline style or script", lang, name, tmpl)
				}
				if tmpl == "page" && !strings.Contains(out, `hx-post="/api/v1/notifications/test?channel=webhook-ab12"`) {
					t.Errorf("%s %s: no test button for the channel", lang, name)
				}
				if strings.Contains(out, "Новый пользователь <b>") {
					t.Errorf("%s %s: event text unescaped", lang, tmpl)
				}
			}
			var buf bytes.Buffer
			_ = s.Render(&buf, lang, "cards", page)
			out := buf.String()
			// Down: every failed source is a red card with its reason in
			// its text, not in a tooltip; the unconfigured ones one quiet line.
			if name == "down" && (strings.Count(out, `class="card s-down"`) < 4 || !strings.Contains(out, `<span class="reason">ping: connection refused</span>`) ||
				strings.Contains(out, `id="card-redis"`) || !strings.Contains(out, `id="quiet"`)) {
				t.Errorf("%s down: %d down cards\n%s", lang, strings.Count(out, `class="card s-down"`), out)
			}
			if name == "up" && (!strings.Contains(out, `id="card-cpu" data-state="critical"`) || !strings.Contains(out, `id="card-disk-0" data-state="warning"`) ||
				!strings.Contains(out, `class="card s-down" id="card-http"`) || !strings.Contains(out, `id="card-db-connections" data-state="ok"`) ||
				!strings.Contains(out, `7 <small>/ 100</small>`) ||
				!strings.Contains(out, `id="card-app" data-state="critical"`) || !strings.Contains(out, `title="GET /reports/{name}">GET /reports/{name}</span>`)) {
				t.Errorf("%s up: states wrong:\n%s", lang, out)
			}
		}
	}
}

// Static files are fingerprinted by content.
func TestAssetsFingerprinted(t *testing.T) {
	s := newSite(t)
	names := map[string]bool{}
	for _, a := range s.Assets() {
		names[a.Name] = true
		if got, ok := s.Asset(a.URL); !ok || got != a {
			t.Errorf("%s not served at %s", a.Name, a.URL)
		}
		if !regexp.MustCompile(`\.[0-9a-f]{8}\.[A-Za-z]+$`).MatchString(a.URL) {
			t.Errorf("%s: %s has no fingerprint", a.Name, a.URL)
		}
	}
	for _, n := range []string{"app.css", "app.js", "favicon.svg", "vendor/htmx.min.js"} {
		if !names[n] {
			t.Errorf("no %s", n)
		}
	}
}

// TestFigWordsByUnit: a card names the figure it shows and the figure
// list's unit decides how it is worded.
func TestFigWordsByUnit(t *testing.T) {
	s := newSite(t)
	en := formatter{c: s.Catalog(English), figures: figureIndex()}
	snap := fullSnapshot()
	snap.Database.Connections = ptr(int64(7))
	snap.Disk[0].UsedBytes = ptr(uint64(1536))
	for series, want := range map[string]string{
		"cpu.percent":                      en.percent(snap.CPU.Percent),
		"database.latency_ms":              en.millis(snap.Database.LatencyMS),
		"database.connections":             "7",
		"disk[*].used_bytes":               "1.5\u00a0KiB",
		"network.receive_bytes_per_second": en.rate(snap.Network.ReceiveBytesPerSecond),
		"load.load5":                       en.num(snap.Load.Load5),
		"redis.connected_clients":          strconv.FormatInt(*snap.Redis.ConnectedClients, 10),
	} {
		got, err := en.fig(&snap, series)
		if err != nil || got != want {
			t.Errorf("fig %s = %q, %v; want %q", series, got, err, want)
		}
	}
	if got, _ := en.fig(&probes.Snapshot{}, "cpu.percent"); got != "N/A" {
		t.Errorf("absent figure: %q", got)
	}
	if _, err := en.fig(&snap, "cpu.pecrent"); err == nil {
		t.Error("an unknown series is no error")
	}
}

// The probes' reasons are English in the JSON; the page says them in its
// language, after the operation that failed, and any text it has no
// wording for as the probe gave it.
func TestReasonsInThePagesLanguage(t *testing.T) {
	s := newSite(t)
	en, ru := formatter{c: s.Catalog(English)}, formatter{c: s.Catalog(Russian)}
	for got, want := range map[string]string{
		ru.reason("timeout after 5s"):                                               "нет ответа за 5s",
		ru.reason("PING: connection refused"):                                       "PING: в подключении отказано",
		ru.reason(probes.RedisNotConfiguredReason):                                  "REDIS_URL не задан",
		ru.reason("SQLite runs inside the vitals process: no connections to count"): "SQLite работает внутри процесса vitals: подключений нет",
		ru.reason("dial tcp 10.0.0.1:5432: no route to host"):                       "dial tcp 10.0.0.1:5432: no route to host",
		en.reason("timeout after 2s"):                                               "timeout after 2s",
		en.reason(probes.ReasonStarting):                                            probes.ReasonStarting,
	} {
		if got != want {
			t.Errorf("%q, want %q", got, want)
		}
	}
	// Every reason with a key is worded in both languages.
	for _, r := range []string{"warming up", "no database configured", "no connection pool to read the figures from",
		"authentication failed", "database does not exist", "too many connections", "server is shutting down or starting up",
		"permission denied", "cannot connect to PostgreSQL", "TLS certificate verification failed",
		"TLS handshake failed (plain HTTP server?)", "connection closed by the server", "invalid URL", "no effective cores",
		"max_connections is not a positive number"} {
		k := reasonKey(r)
		if k == "" || !s.Catalog(English).Has(k) || !s.Catalog(Russian).Has(k) {
			t.Errorf("reason %q: key %q not in both catalogues", r, k)
		}
		if en.reason(r) != r {
			t.Errorf("English rewords %q as %q", r, en.reason(r))
		}
	}
}

// The feed's lines are written by rows, not the template: every value an
// event carries is escaped there, in text and in attributes alike.
func TestFeedRowsEscape(t *testing.T) {
	s := newSite(t)
	f := formatter{c: s.Catalog(English)}
	email := `a"b@example.com`
	items := s.Items(English, time.Now(), time.UTC, []storage.Event{{ID: 7, Type: "x.y", Message: `"><img src=x onerror=alert(1)>&`,
		UserEmail: &email, Details: json.RawMessage(`{"a":1}`), CreatedAt: time.Now()}})
	out := string(f.rows(items))
	for _, bad := range []string{"<img", `a"b@`, `">&<`} {
		if strings.Contains(out, bad) {
			t.Errorf("unescaped %q in %s", bad, out)
		}
	}
	for _, want := range []string{`&#34;&gt;&lt;img src=x onerror=alert(1)&gt;&amp;`, `a&#34;b@example.com`, `<li id="e7">`, `<details data-c="`, `<li class="day" data-day="`} {
		if !strings.Contains(out, want) {
			t.Errorf("rows lack %q: %s", want, out)
		}
	}
}

// The alert engine's types are vitals' own, under the chip of its own
// events; web names them by string, as it may not import alerts.
func TestOwnChipHoldsAlerts(t *testing.T) {
	own := strings.Split(OwnChip(), ",")
	for _, typ := range []string{"alert.firing", "alert.resolved", storage.TypeSignedIn, storage.TypeTokenCreated, storage.TypeEventsErased} {
		if !slices.Contains(own, typ) {
			t.Errorf("the own chip lacks %s: %v", typ, own)
		}
	}
	for _, et := range EventTypes() {
		if et.Own != (storage.ReservedPrefix(et.Type) != "") {
			t.Errorf("%s: own %v, reserved prefix %q", et.Type, et.Own, storage.ReservedPrefix(et.Type))
		}
	}
}

// Firing and pending alerts are listed above the cards, in both languages.
func TestAlertsStrip(t *testing.T) {
	s := newSite(t)
	snap := fullSnapshot()
	snap.Assess(DefaultThresholds())
	v := "97.5"
	for lang, want := range map[Lang]string{"en": "firing since", "ru": "срабатывает с"} {
		page := Page{Lang: lang, Snapshot: &snap, Limits: DefaultThresholds(), Now: time.Now(), Location: time.UTC,
			Alerts: []Alert{{Rule: "cpu_high", Series: "cpu.percent", Phase: "firing", Since: time.Now(), Value: v},
				{Rule: "db_down", Series: "database", Phase: "pending", Since: time.Now(), Level: probes.LevelDown}}}
		var buf bytes.Buffer
		if err := s.Render(&buf, lang, "cards", page); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		if !strings.Contains(out, `id="alerts" role="alert"`) || !strings.Contains(out, "<b>cpu_high</b> <code>cpu.percent</code> "+want) ||
			!strings.Contains(out, "97.5") || !strings.Contains(out, `class="a-pending"`) {
			t.Errorf("%s: %s", lang, out[:min(len(out), 800)])
		}
	}
	page := Page{Lang: "en", Snapshot: &snap, Limits: DefaultThresholds(), Now: time.Now(), Location: time.UTC}
	var buf bytes.Buffer
	_ = s.Render(&buf, "en", "cards", page)
	if strings.Contains(buf.String(), `id="alerts"`) {
		t.Error("an empty strip without alerts")
	}
}
