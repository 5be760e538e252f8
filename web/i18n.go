package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

//go:embed locales/*.json
var localeFS embed.FS

// Lang is a language the page is written in.
type Lang string

// The languages vitals speaks. English is the fallback.
const (
	English Lang = "en"
	Russian Lang = "ru"
)

// Langs lists the languages, the fallback first.
func Langs() []Lang { return []Lang{English, Russian} }

// ParseLang returns the language named by a tag's primary subtag ("ru",
// "ru-RU", "EN"), and false for a language vitals does not speak.
func ParseLang(tag string) (Lang, bool) {
	primary, _, _ := strings.Cut(strings.TrimSpace(tag), "-")
	primary, _, _ = strings.Cut(primary, "_")
	switch strings.ToLower(primary) {
	case "en":
		return English, true
	case "ru":
		return Russian, true
	}
	return "", false
}

// Plural categories (CLDR names); each language uses a subset.
const (
	PluralOne   = "one"
	PluralFew   = "few"
	PluralMany  = "many"
	PluralOther = "other"
)

// PluralCategory is the CLDR plural category of the whole number n in lang:
// English has one and other; Russian one (1, 21, 101), few (2-4, 22-24)
// and many (0, 5-20, 25-30, 11-14).
func PluralCategory(lang Lang, n int) string {
	if n < 0 {
		n = -n
	}
	switch lang {
	case Russian:
		mod10, mod100 := n%10, n%100
		switch {
		case mod10 == 1 && mod100 != 11:
			return PluralOne
		case mod10 >= 2 && mod10 <= 4 && (mod100 < 12 || mod100 > 14):
			return PluralFew
		default:
			return PluralMany
		}
	default:
		if n == 1 {
			return PluralOne
		}
		return PluralOther
	}
}

// pluralForms lists the categories a language's plural messages must have.
func pluralForms(lang Lang) []string {
	if lang == Russian {
		return []string{PluralOne, PluralFew, PluralMany}
	}
	return []string{PluralOne, PluralOther}
}

// message is one catalogue entry: a plain text, or plural forms by
// category.
type message struct {
	text  string
	forms map[string]string
}

// UnmarshalJSON reads a plain text or an object of plural forms.
func (m *message) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &m.text)
	}
	return json.Unmarshal(b, &m.forms)
}

// Catalog is one language's messages, read from web/locales/<lang>.json.
// Every string the page shows comes from it.
type Catalog struct {
	lang Lang
	msgs map[string]message
}

func loadCatalog(lang Lang) (*Catalog, error) {
	raw, err := localeFS.ReadFile("locales/" + string(lang) + ".json")
	if err != nil {
		return nil, fmt.Errorf("web: catalogue %s: %w", lang, err)
	}
	c := &Catalog{lang: lang}
	if err := json.Unmarshal(raw, &c.msgs); err != nil {
		return nil, fmt.Errorf("web: catalogue %s: %w", lang, err)
	}
	for key, m := range c.msgs {
		if m.forms == nil {
			continue
		}
		for _, f := range pluralForms(lang) {
			if _, ok := m.forms[f]; !ok {
				return nil, fmt.Errorf("web: catalogue %s: %q lacks the plural form %q", lang, key, f)
			}
		}
	}
	return c, nil
}

// Keys lists the catalogue's keys, sorted.
func (c *Catalog) Keys() []string {
	keys := make([]string, 0, len(c.msgs))
	for k := range c.msgs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Has reports whether the catalogue has key.
func (c *Catalog) Has(key string) bool {
	_, ok := c.msgs[key]
	return ok
}

// T returns the text of key with each {name} replaced by the value that
// follows name in args. An unknown key is an error, so that a template that
// names one fails its test rather than showing the key.
func (c *Catalog) T(key string, args ...any) (string, error) {
	m, ok := c.msgs[key]
	if !ok {
		return "", fmt.Errorf("no message %q in the %s catalogue", key, c.lang)
	}
	if m.forms != nil {
		return "", fmt.Errorf("message %q has plural forms; use N", key)
	}
	return substitute(m.text, args)
}

// N returns the plural form of key for n, with {n} replaced by n and any
// further {name} by the value that follows name in args.
func (c *Catalog) N(key string, n int, args ...any) (string, error) {
	m, ok := c.msgs[key]
	if !ok {
		return "", fmt.Errorf("no message %q in the %s catalogue", key, c.lang)
	}
	if m.forms == nil {
		return "", fmt.Errorf("message %q has no plural forms; use T", key)
	}
	text := m.forms[PluralCategory(c.lang, n)]
	return substitute(text, append([]any{"n", strconv.Itoa(n)}, args...))
}

// Forms returns the plural forms of key by category, for the script that
// words announcements with the browser's own plural rules.
func (c *Catalog) Forms(key string) map[string]string {
	return c.msgs[key].forms
}

// MustT is T for callers that use only keys a test has checked; an unknown
// key yields the key itself.
func (c *Catalog) MustT(key string, args ...any) string {
	s, err := c.T(key, args...)
	if err != nil {
		return key
	}
	return s
}

// MustN is N for keys a test has checked; an unknown key yields the key.
func (c *Catalog) MustN(key string, n int, args ...any) string {
	s, err := c.N(key, n, args...)
	if err != nil {
		return key
	}
	return s
}

func substitute(text string, args []any) (string, error) {
	if len(args)%2 != 0 {
		return "", fmt.Errorf("message arguments must be name, value pairs")
	}
	if len(args) == 0 || !strings.Contains(text, "{") {
		return text, nil
	}
	// A plain loop: messages carry one or two placeholders, and a Replacer
	// per call costs more than the page's whole render of them.
	for i := 0; i < len(args); i += 2 {
		text = strings.ReplaceAll(text, "{"+toString(args[i])+"}", toString(args[i+1]))
	}
	return text, nil
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}
