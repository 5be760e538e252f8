package web

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestPrettyJSONKeepsOrderAndNumbers(t *testing.T) {
	got := prettyJSON(json.RawMessage(`{"z":1.50,"a":[],"b":{"c":[1,2]},"s":"x\"]{,"}`))
	want := "{\n  \"z\": 1.50,\n  \"a\": [],\n  \"b\": {\n    \"c\": [\n      1,\n      2\n    ]\n  },\n  \"s\": \"x\\\"]{,\"\n}"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

// The details view is a small multiple of the stored size, however deeply
// the details nest (16 KiB of nested arrays once rendered as 131 MB).
func TestPrettyJSONIsBounded(t *testing.T) {
	for _, raw := range []string{
		`{"a":` + strings.Repeat("[", 8000) + strings.Repeat("]", 8000) + `}`,
		`{"a":` + strings.Repeat("[1,", 4000) + "1" + strings.Repeat("]", 4000) + `}`,
		`{"a":[` + strings.Repeat("[],", 5000) + `[]]}`,
	} {
		out := prettyJSON(json.RawMessage(raw))
		if len(out) > prettyFactor*len(raw)+prettySlack {
			t.Fatalf("%d bytes stored rendered as %d", len(raw), len(out))
		}
		if !json.Valid([]byte(out)) {
			t.Fatalf("the view is not the JSON stored: %.200s", out)
		}
	}
}
