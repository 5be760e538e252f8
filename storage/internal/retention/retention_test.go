package retention

import (
	"slices"
	"testing"

	"github.com/vitalsdev/vitals/storage"
)

func TestNew(t *testing.T) {
	k, err := New(0)
	if err != nil || k.App != storage.DefaultEventsKeep || k.Vitals != storage.DefaultVitalsEventsKeep {
		t.Fatalf("New(0) = %+v, %v", k, err)
	}
	if k, err := New(10); err != nil || k.App != 10 || k.Vitals != storage.DefaultVitalsEventsKeep {
		t.Fatalf("New(10) = %+v, %v", k, err)
	}
	if _, err := New(-1); err == nil {
		t.Fatal("New(-1) accepted a negative keep")
	}
}

func TestDueEachSourceApart(t *testing.T) {
	k := Keep{App: 10, Vitals: 200}
	for _, c := range []struct {
		stored Count
		want   []string
	}{
		{Count{}, nil},
		{Count{App: 11, Vitals: 220}, nil},
		{Count{App: 12, Vitals: 0}, []string{storage.SourceApp}},
		{Count{App: 0, Vitals: 221}, []string{storage.SourceVitals}},
		{Count{App: 12, Vitals: 221}, []string{storage.SourceApp, storage.SourceVitals}},
	} {
		if got := k.Due(c.stored); !slices.Equal(got, c.want) {
			t.Errorf("Due(%+v) = %v, want %v", c.stored, got, c.want)
		}
	}
	if k.Of(storage.SourceVitals) != 200 || k.Of(storage.SourceApp) != 10 {
		t.Errorf("Of: app %d, vitals %d", k.Of(storage.SourceApp), k.Of(storage.SourceVitals))
	}
}

func TestCount(t *testing.T) {
	var c Count
	if c.Any() {
		t.Fatal("zero count is Any")
	}
	for _, s := range []string{storage.SourceApp, storage.SourceVitals, storage.SourceVitals, ""} {
		c.Add(s)
	}
	if c != (Count{App: 2, Vitals: 2}) || !c.Any() {
		t.Fatalf("count = %+v", c)
	}
}
