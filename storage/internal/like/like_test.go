package like

import "testing"

func TestContains(t *testing.T) {
	for in, want := range map[string]string{
		"":           "%%",
		"abc":        "%abc%",
		"50%":        `%50\%%`,
		"a_b":        `%a\_b%`,
		`C:\dir`:     `%C:\\dir%`,
		`\%_`:        `%\\\%\_%`,
		"ünïcödé":    "%ünïcödé%",
		"it's \"q\"": "%it's \"q\"%",
	} {
		if got := Contains(in); got != want {
			t.Errorf("Contains(%q) = %q, want %q", in, got, want)
		}
	}
}
