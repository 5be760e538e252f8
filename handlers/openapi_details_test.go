package handlers_test

import (
	"strings"
	"testing"
)

// Every schema of an event's details says it is an object of any values
// (additionalProperties: true): without it, generators such as
// openapi-typescript type details as an object that can hold nothing
// (Record<string, never>).
func TestOpenAPIDetailsTakeAnyValues(t *testing.T) {
	o := loadOpenAPI(t)
	var found []string
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if m, ok := c.(map[string]any); ok && k == "details" && path != "" && strings.HasSuffix(path, "/properties") {
					found = append(found, path)
					if m["additionalProperties"] != true {
						t.Errorf("%s/details: additionalProperties is %v, want true", path, m["additionalProperties"])
					}
				}
				walk(path+"/"+k, c)
			}
		case []any:
			for _, c := range v {
				walk(path+"/[]", c)
			}
		}
	}
	walk("#", o.doc)
	if len(found) < 3 {
		t.Fatalf("details found under %v; want the event, the stored event and the new event", found)
	}
}
