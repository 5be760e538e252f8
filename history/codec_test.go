package history

import (
	"math"
	"testing"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	cases := map[string][]Point{
		"samples at two places": {{T: 1000, Min: 12.34, Max: 12.34, Sum: 12.34, Count: 1},
			{T: 31000, Min: 12.5, Max: 12.5, Sum: 12.5, Count: 1}, {T: 61005, Min: -3, Max: -3, Sum: -3, Count: 1}},
		"buckets": {{T: 0, Min: 1.5, Max: 9.25, Sum: 40.75, Count: 10}, {T: 300000, Min: 2, Max: 2, Sum: 20, Count: 10}},
		"raw bits": {{T: 5, Min: math.Pi, Max: math.Pi, Sum: math.Pi, Count: 1},
			{T: 7, Min: 1.0 / 3, Max: 1e300, Sum: 1e300, Count: 2}},
		"large bytes": {{T: 1, Min: 9223372036854771712, Max: 9223372036854771712, Sum: 9223372036854771712, Count: 1}},
	}
	var e Encoder
	for name, pts := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := e.Encode(pts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(pts) {
				t.Fatalf("got %d points, want %d", len(got), len(pts))
			}
			for i := range pts {
				if got[i] != pts[i] {
					t.Errorf("point %d: got %+v, want %+v", i, got[i], pts[i])
				}
			}
		})
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, {1, 2, 3}, []byte("not a chunk at all")} {
		if _, err := Decode(b); err == nil {
			t.Errorf("Decode(%q) succeeded", b)
		}
	}
}

func TestEncodeRefusesEmpty(t *testing.T) {
	var e Encoder
	if _, err := e.Encode(nil); err == nil {
		t.Fatal("Encode(nil) succeeded")
	}
}
