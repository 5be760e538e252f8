// Package web holds the dashboard's templates, message catalogues and
// static files, embedded in the binary. Templates are parsed once per
// language, when a Site is made; static files are fingerprinted so they can
// be cached for a long time.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"mime"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vitalsdev/vitals/storage"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Asset is one static file with its fingerprinted URL path.
type Asset struct {
	// Name is the file's path under static/, e.g. "vendor/htmx.min.js".
	Name string
	// URL is where it is served, e.g. "/static/vendor/htmx.min.3f2a9c1b.js".
	URL         string
	ContentType string
	Body        []byte
}

// Site is the parsed templates, one set per language, the message
// catalogues and the fingerprinted static files.
type Site struct {
	tmpl     map[Lang]*template.Template
	catalogs map[Lang]*Catalog
	assets   map[string]*Asset // by Name
	byURL    map[string]*Asset // by URL
	bufs     sync.Pool
}

// New parses every template for every language and fingerprints every
// static file. It fails only if the embedded files are broken, which a test
// catches.
func New() (*Site, error) {
	s := &Site{
		tmpl:     map[Lang]*template.Template{},
		catalogs: map[Lang]*Catalog{},
		assets:   map[string]*Asset{},
		byURL:    map[string]*Asset{},
	}
	s.bufs.New = func() any { return new(bytes.Buffer) }
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "static/")
		sum := sha256.Sum256(body)
		ext := path.Ext(name)
		url := "/static/" + strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:4]) + ext
		ct := mime.TypeByExtension(ext)
		if ct == "" {
			ct = "text/plain; charset=utf-8"
		}
		a := &Asset{Name: name, URL: url, ContentType: ct, Body: body}
		s.assets[name] = a
		s.byURL[url] = a
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: static files: %w", err)
	}
	figures := figureIndex()
	for _, lang := range Langs() {
		c, err := loadCatalog(lang)
		if err != nil {
			return nil, err
		}
		s.catalogs[lang] = c
		funcs := template.FuncMap{"asset": s.assetURL}
		for k, v := range commonFuncs() {
			funcs[k] = v
		}
		for k, v := range (formatter{c: c, figures: figures}).funcs() {
			funcs[k] = v
		}
		t, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
		if err != nil {
			return nil, fmt.Errorf("web: templates: %w", err)
		}
		s.tmpl[lang] = t
	}
	return s, nil
}

func (s *Site) assetURL(name string) (string, error) {
	a, ok := s.assets[name]
	if !ok {
		return "", fmt.Errorf("no static file %q", name)
	}
	return a.URL, nil
}

// Asset returns the static file served at url, if any.
func (s *Site) Asset(url string) (*Asset, bool) {
	a, ok := s.byURL[url]
	return a, ok
}

// Assets lists the static files, sorted by name.
func (s *Site) Assets() []*Asset {
	out := make([]*Asset, 0, len(s.assets))
	for _, a := range s.assets {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Catalog returns the messages of lang (English for a language vitals does
// not speak).
func (s *Site) Catalog(lang Lang) *Catalog {
	if c, ok := s.catalogs[lang]; ok {
		return c
	}
	return s.catalogs[English]
}

// Items words events for the feed in lang: labels, icons, the exact time
// in loc, the time relative to now, and the day above the first event of
// each day.
func (s *Site) Items(lang Lang, now time.Time, loc *time.Location, events []storage.Event) []Item {
	f := formatter{c: s.Catalog(lang)}
	if loc == nil {
		loc = time.UTC
	}
	today := now.In(loc).Format(time.DateOnly)
	yesterday := now.In(loc).AddDate(0, 0, -1).Format(time.DateOnly)
	out := make([]Item, len(events))
	prev := ""
	for i, e := range events {
		at := e.CreatedAt.In(loc)
		it := Item{
			ID:         e.ID,
			Icon:       TypeIcon(e.Type),
			Label:      f.typeLabel(e.Type),
			Message:    s.message(f, e),
			ISO:        e.CreatedAt.UTC().Format(time.RFC3339Nano),
			Time:       at.Format(time.TimeOnly),
			Ago:        f.Ago(now, e.CreatedAt),
			Cursor:     FormatCursor(e.CreatedAt, e.ID),
			HasDetails: len(e.Details) > 0,
		}
		if day := at.Format(time.DateOnly); day != prev {
			prev = day
			it.Day = day
			switch day {
			case today:
				it.DayLabel = f.c.MustT("feed.today", "date", day, "zone", at.Format("MST"))
			case yesterday:
				it.DayLabel = f.c.MustT("feed.yesterday", "date", day, "zone", at.Format("MST"))
			default:
				it.DayLabel = f.c.MustT("feed.day", "date", day, "zone", at.Format("MST"))
			}
		}
		if e.UserEmail != nil {
			it.Email = *e.UserEmail
		}
		out[i] = it
	}
	return out
}

// Render executes the named template in lang into a buffer first, so that
// a template error never sends half a page, then copies it to w.
func (s *Site) Render(w io.Writer, lang Lang, name string, data any) error {
	t, ok := s.tmpl[lang]
	if !ok {
		t = s.tmpl[English]
	}
	buf := s.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer s.bufs.Put(buf)
	if err := t.ExecuteTemplate(buf, name, data); err != nil {
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// message is an event's text in the reader's language: vitals' own events
// are worded from the catalogue (their details' message_key, else "event."
// and the type) with the parameters their details carry, so that the Russian page reads Russian.
// An event whose details lack a parameter the wording needs (one stored
// before the wording existed), and every application event, shows its
// stored message.
func (s *Site) message(f formatter, e storage.Event) string {
	if e.Source != storage.SourceVitals {
		return e.Message
	}
	var params map[string]any
	if len(e.Details) > 0 && json.Unmarshal(e.Details, &params) != nil {
		return e.Message
	}
	key, _ := params["message_key"].(string)
	if key == "" {
		key = "event." + e.Type // stored before events carried their key
	}
	text, err := f.c.T(key)
	if err != nil || !strings.HasPrefix(key, "event.") {
		return e.Message
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(text, '{')
		if i < 0 {
			b.WriteString(text)
			return b.String()
		}
		j := strings.IndexByte(text[i:], '}')
		if j < 0 {
			return e.Message
		}
		v, ok := params[text[i+1:i+j]]
		if !ok {
			return e.Message
		}
		b.WriteString(text[:i])
		switch x := v.(type) {
		case string:
			b.WriteString(x)
		case float64:
			b.WriteString(strconv.FormatFloat(x, 'f', -1, 64))
		default:
			return e.Message
		}
		text = text[i+j+1:]
	}
}
