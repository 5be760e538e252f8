// Package web holds the dashboard's templates and static files, embedded in
// the binary. Templates are parsed once, when a Site is made; static files
// are fingerprinted so they can be cached for a long time.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"mime"
	"path"
	"sort"
	"strings"
	"sync"
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

// Site is the parsed templates and the fingerprinted static files.
type Site struct {
	tmpl   *template.Template
	assets map[string]*Asset // by Name
	byURL  map[string]*Asset // by URL
	bufs   sync.Pool
}

// New parses every template and fingerprints every static file. It fails
// only if the embedded files are broken, which a test catches.
func New() (*Site, error) {
	s := &Site{assets: map[string]*Asset{}, byURL: map[string]*Asset{}}
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
	funcs := template.FuncMap{
		"asset": func(name string) (string, error) {
			a, ok := s.assets[name]
			if !ok {
				return "", fmt.Errorf("no static file %q", name)
			}
			return a.URL, nil
		},
	}
	for k, v := range Funcs() {
		funcs[k] = v
	}
	t, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	s.tmpl = t
	return s, nil
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

// Render executes the named template into a buffer first, so that a template
// error never sends half a page, then copies it to w.
func (s *Site) Render(w io.Writer, name string, data any) error {
	buf := s.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer s.bufs.Put(buf)
	if err := s.tmpl.ExecuteTemplate(buf, name, data); err != nil {
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}
