package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/vitalsdev/vitals/internal/config"
	"github.com/vitalsdev/vitals/storage"
)

// cmdDemo is `vitals demo`: a day of made-up but plausible activity of the
// seed's internet radio (registrations and their approval, streams started
// and stopped, tracks added), in Russian and English, written into the
// development store, so that a newcomer's first `go run .` shows a living
// feed. Each event's created_at is set in the past (storage.NewEvent's
// OccurredAt).
func cmdDemo(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var (
		count int
		hours int
		force bool
	)
	spec := config.Command{
		Usage: "vitals demo [--count N] [--hours H] [flags]",
		About: "Writes a day of realistic events of the six seed types (user_registered, user_approved,\n" +
			"user_rejected, stream_started, stream_stopped, track_added), in Russian and English,\n" +
			"spread over the last hours, into the store, for development: then `go run .` shows a\n" +
			"populated dashboard. PostgreSQL (DATABASE_URL) needs --force: the events are made up.",
		Flags: func(fs *flag.FlagSet) {
			fs.IntVar(&count, "count", 300, "how many events to write (1 to 5000; retention keeps VITALS_EVENTS_KEEP)")
			fs.IntVar(&hours, "hours", 24, "spread them over this many past hours (1 to 720)")
			fs.BoolVar(&force, "force", false, "write into PostgreSQL too")
		},
	}
	cfg, rest, code, done := parseCommand("vitals demo", spec, storeSettings(), args, getenv, stdout, stderr)
	if done {
		return code
	}
	switch {
	case len(rest) > 0:
		return usageError(stderr, spec, "vitals demo: unexpected argument %q", rest[0])
	case count < 1 || count > 5000:
		return usageError(stderr, spec, "vitals demo: --count must be from 1 to 5000, got %d", count)
	case hours < 1 || hours > 720:
		return usageError(stderr, spec, "vitals demo: --hours must be from 1 to 720, got %d", hours)
	case cfg.DatabaseURL != "" && !force:
		return usageError(stderr, spec, "vitals demo: DATABASE_URL is set: the demo writes made-up events; add --force to write them into PostgreSQL")
	}

	ctx, cancel := commandContext()
	defer cancel()
	store, where, err := openCommandStore(ctx, cfg, false, commandLogger(stderr, false))
	if err != nil {
		fmt.Fprintln(stderr, "vitals demo:", err)
		return exitFailed
	}
	defer store.Close()

	events := demoEvents(rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), time.Now(), time.Duration(hours)*time.Hour, count)
	if _, err := store.InsertEvents(ctx, events); err != nil {
		fmt.Fprintln(stderr, "vitals demo:", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "Wrote %d demo events from the last %d hours into %s.\n", len(events), hours, where)
	if cfg.EventsKeep > 0 && len(events) > cfg.EventsKeep {
		fmt.Fprintf(stdout, "Retention keeps the newest %d (VITALS_EVENTS_KEEP).\n", cfg.EventsKeep)
	}
	if cfg.DatabaseURL == "" {
		fmt.Fprintln(stdout, "Now run `go run .` (or `vitals`) and open http://localhost:8080.")
	}
	return exitOK
}

// demoTrack is a track the demo's DJs add.
type demoTrack struct {
	Artist, Title string
	Seconds       int
}

// demoEvents makes about n events of the six seed types, in stories (a
// registration and, later, its approval or rejection; a stream started and,
// later, stopped; a track added), spread over span before now and sorted
// oldest first. A story that would end after now stays open: the newest
// registrations are pending and a stream may be live.
//
// Whatever r draws, n >= 7 events hold all six types and both languages
// (three stories in five are Russian, in turn, not by chance): the first
// four stories are one of each kind, told within the newest half of span
// and closed before now, and trimming to n never drops them.
func demoEvents(r *rand.Rand, now time.Time, span time.Duration, n int) []storage.NewEvent {
	// The cast: made-up people on reserved example domains (RFC 2606),
	// the radio's streams and its record box.
	var (
		demoUsersRU = []string{"anna.petrova", "d.ivanov", "olga.smirnova", "sergey.kuznetsov", "maria.volkova", "ivan.sokolov", "ekaterina.m", "alexey.popov", "natasha.orlova", "pavel.lebedev"}
		demoUsersEN = []string{"john.smith", "sarah.lee", "mike.johnson", "emma.brown", "liam.wilson", "olivia.davis", "noah.miller", "ava.taylor"}
		demoDomains = []string{"example.com", "example.org", "example.net"}
		demoDJs     = []string{"dj.nika@example.com", "dj.max@example.org", "radio.admin@example.com"}
		demoAdmins  = []string{"admin@example.com", "moderator@example.org"}
		demoStreams = []struct{ RU, EN string }{
			{"Утренний эфир", "Morning show"}, {"Ночной джаз", "Late-night jazz"}, {"Дневной плейлист", "Daytime playlist"},
			{"Live из студии", "Live from the studio"}, {"Микс выходного дня", "Weekend mix"},
		}
		demoTracks = []demoTrack{
			{"Кино", "Группа крови", 286}, {"Земфира", "Искала", 246}, {"Сплин", "Выхода нет", 232},
			{"Мумий Тролль", "Владивосток 2000", 164}, {"ДДТ", "Что такое осень", 366}, {"Аквариум", "Город золотой", 190},
			{"Radiohead", "Karma Police", 264}, {"Daft Punk", "Get Lucky", 369}, {"Queen", "Bohemian Rhapsody", 355},
			{"Nirvana", "Come As You Are", 219}, {"Massive Attack", "Teardrop", 330}, {"Miles Davis", "So What", 562},
		}
		demoRejectReasons = []struct{ RU, EN string }{
			{"дубликат аккаунта", "duplicate account"}, {"похоже на спам", "looks like spam"},
			{"не подтверждена почта", "email not confirmed"},
		}
	)
	type timed struct {
		at   time.Time
		e    storage.NewEvent
		keep bool // one of the first four stories: never trimmed
	}
	var out []timed
	story := 0
	add := func(at time.Time, typ, msg string, email string, details map[string]any) {
		if !at.Before(now) {
			return
		}
		e := storage.NewEvent{Type: typ, Message: msg}
		if email != "" {
			e.UserEmail = &email
		}
		if details != nil {
			e.Details, _ = json.Marshal(details) // maps of strings and numbers always marshal
		}
		out = append(out, timed{at, e, story < 4})
	}
	pick := func(list []string) string { return list[r.IntN(len(list))] }
	for ; len(out) < n; story++ {
		at := now.Add(-time.Duration(r.Int64N(int64(span))))
		// later returns the time d after at, or, for the first four
		// stories, a time between at and now, so that they end.
		later := at.Add
		k := r.IntN(10)
		if story < 4 {
			at = now.Add(-time.Minute - time.Duration(r.Int64N(max(int64(span/2), 1))))
			later = func(d time.Duration) time.Time { return at.Add(min(d, now.Sub(at)/2)) }
			k = []int{0, 1, 4, 6}[story] // rejected, approved, stream, track
		}
		ru := story%5 < 3 // three stories in five are Russian
		lang := map[bool]string{true: "ru", false: "en"}[ru]
		switch {
		case k < 4: // a listener signs up; an admin decides later
			name := pick(demoUsersEN)
			if ru {
				name = pick(demoUsersRU)
			}
			email := fmt.Sprintf("%s%d@%s", name, r.IntN(90)+10, pick(demoDomains))
			add(at, "user_registered", tr(ru, "Новый пользователь зарегистрировался", "New user registered"), email,
				map[string]any{"source": pick([]string{"web", "ios", "android"}), "locale": lang})
			decided := later(time.Duration(5+r.IntN(180)) * time.Minute)
			if reject := r.IntN(5) == 0; reject && story != 1 || story == 0 {
				reason := demoRejectReasons[r.IntN(len(demoRejectReasons))]
				add(decided, "user_rejected", tr(ru, "Пользователь отклонён: "+reason.RU, "User rejected: "+reason.EN), email,
					map[string]any{"rejected_by": pick(demoAdmins), "reason": tr(ru, reason.RU, reason.EN)})
			} else {
				add(decided, "user_approved", tr(ru, "Пользователь одобрен", "User approved"), email,
					map[string]any{"approved_by": pick(demoAdmins)})
			}
		case k < 6: // a show goes on air and, later, off
			st := demoStreams[r.IntN(len(demoStreams))]
			name := tr(ru, st.RU, st.EN)
			dj := pick(demoDJs)
			bitrate := []int{128, 192, 320}[r.IntN(3)]
			add(at, "stream_started", tr(ru, "Эфир «"+name+"» запущен", "Stream “"+name+"” started"), dj,
				map[string]any{"stream": name, "bitrate_kbps": bitrate, "mount": "/live"})
			minutes := 30 + r.IntN(150)
			add(later(time.Duration(minutes)*time.Minute), "stream_stopped",
				tr(ru, "Эфир «"+name+"» остановлен", "Stream “"+name+"” stopped"), dj,
				map[string]any{"stream": name, "duration_min": minutes, "peak_listeners": 5 + r.IntN(400)})
		default: // a DJ adds a track to a playlist
			t := demoTracks[r.IntN(len(demoTracks))]
			playlist := demoStreams[r.IntN(len(demoStreams))]
			add(at, "track_added", tr(ru, "Трек добавлен: "+t.Artist+" — "+t.Title, "Track added: "+t.Artist+" — "+t.Title), pick(demoDJs),
				map[string]any{"artist": t.Artist, "title": t.Title, "duration_s": t.Seconds, "playlist": tr(ru, playlist.RU, playlist.EN)})
		}
	}
	slices.SortFunc(out, func(a, b timed) int { return a.at.Compare(b.at) })
	// Keep the newest n: the stories' first events are spread evenly,
	// so trimming the oldest keeps the spread. The first four stories'
	// events stay, in their place.
	drop := len(out) - n
	out = slices.DeleteFunc(out, func(t timed) bool {
		if drop > 0 && !t.keep {
			drop--
			return true
		}
		return false
	})
	out = out[len(out)-n:] // n < 7: the first stories cannot all stay
	events := make([]storage.NewEvent, len(out))
	for i, t := range out {
		at := t.at
		events[i] = t.e
		events[i].OccurredAt = &at
	}
	return events
}

// tr picks the Russian or the English text.
func tr(ru bool, russian, english string) string {
	if ru {
		return russian
	}
	return english
}
