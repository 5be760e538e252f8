package handlers_test

import (
	"encoding/json"
	"testing"

	"vitals/storage/sqlite"
	"vitals/storage/sqlite/sqlitetest"
)

type healthJSON struct {
	Status string `json:"status"`
	Checks map[string][]struct {
		ObservedValue *float64 `json:"observedValue"`
		ObservedUnit  string   `json:"observedUnit"`
		Status        string   `json:"status"`
		Output        string   `json:"output"`
	} `json:"checks"`
}

func TestHealth(t *testing.T) {
	h := newSQLiteHarness(t)
	status, hdr, body := h.do("GET", "/health", nil, "", anon)
	if status != 200 || hdr.Get("Content-Type") != "application/health+json" {
		t.Fatalf("%d %s %s", status, hdr.Get("Content-Type"), body)
	}
	var doc healthJSON
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	db := doc.Checks["database:responseTime"]
	if doc.Status != "pass" || len(db) != 1 || db[0].Status != "pass" || db[0].ObservedValue == nil || db[0].ObservedUnit != "ms" {
		t.Fatalf("health: %s", body)
	}
}

// A store that does not answer makes /health 503 with status fail.
func TestHealthFailsWhenStoreIsDown(t *testing.T) {
	store := sqlitetest.Open(t, sqlite.Options{})
	h := newHarness(t, store)
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	status, _, body := h.do("GET", "/health", nil, "", anon)
	if status != 503 {
		t.Fatalf("%d %s", status, body)
	}
	var doc healthJSON
	if err := json.Unmarshal(body, &doc); err != nil || doc.Status != "fail" {
		t.Fatalf("health: %s", body)
	}
}
