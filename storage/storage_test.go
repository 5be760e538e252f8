package storage

import (
	"encoding/json"
	"testing"
)

func TestPruneThreshold(t *testing.T) {
	for _, tc := range []struct{ keep, want int }{
		{1000, 1100}, {10, 11}, {1, 1}, {9, 9}, {100, 110}, {5000, 5500},
	} {
		if got := PruneThreshold(tc.keep); got != tc.want {
			t.Errorf("PruneThreshold(%d) = %d, want %d", tc.keep, got, tc.want)
		}
	}
}

func TestShouldPrune(t *testing.T) {
	for _, tc := range []struct {
		stored int64
		keep   int
		want   bool
	}{
		{0, 1000, false},
		{1000, 1000, false},
		{1100, 1000, false}, // exactly the threshold is kept
		{1101, 1000, true},
		{11, 10, false},
		{12, 10, true},
		{2, 1, true},
		{1, 1, false},
	} {
		if got := ShouldPrune(tc.stored, tc.keep); got != tc.want {
			t.Errorf("ShouldPrune(%d, %d) = %v, want %v", tc.stored, tc.keep, got, tc.want)
		}
	}
}

func TestIsNullDetails(t *testing.T) {
	for _, tc := range []struct {
		in   json.RawMessage
		want bool
	}{
		{nil, true},
		{json.RawMessage(""), true},
		{json.RawMessage("null"), true},
		{json.RawMessage(" null\n"), true},
		{json.RawMessage("{}"), false},
		{json.RawMessage(`{"a":null}`), false},
		{json.RawMessage(`"null"`), false},
	} {
		if got := IsNullDetails(tc.in); got != tc.want {
			t.Errorf("IsNullDetails(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
