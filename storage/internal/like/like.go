// Package like builds the patterns of the stores' substring search: both
// dialects match with LIKE (or ILIKE) ... ESCAPE '\', so the escaping is
// the same.
package like

import "strings"

var escaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// Contains is the pattern that matches any text containing s, as plain
// text: '%', '_' and '\' in s match themselves under ESCAPE '\'.
func Contains(s string) string {
	return "%" + escaper.Replace(s) + "%"
}

// Exact is a LIKE pattern matching s alone (its wildcards escaped), for a
// comparison that ignores ASCII case as LIKE does.
func Exact(s string) string {
	return escaper.Replace(s)
}
