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
		// The fault suite's bucket: min and max at two places, samples
		// between them at three, so the sum has three.
		"sum finer than min and max": {{T: 0, Min: 0.8, Max: 1.37, Sum: 47.398, Count: 42}},
		"sum not a decimal":          {{T: 0, Min: 0.1, Max: 0.2, Sum: 0.1 + 0.2, Count: 2}},
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

// TestAddSumIsTheDecimalSum: sums of figures with a few decimals are the
// double nearest their exact decimal sum, whatever the order of addition,
// so a roll-up of roll-ups equals the roll-up of the samples.
func TestAddSumIsTheDecimalSum(t *testing.T) {
	vals := []float64{0.1, 0.2, 1.125, 0.8, 1.37, 33.33, 1e9, 0.001}
	fwd, back := 0.0, 0.0
	for i := range vals {
		fwd = addSum(fwd, vals[i])
		back = addSum(back, vals[len(vals)-1-i])
	}
	if fwd != 1000000036.926 || back != fwd {
		t.Fatalf("forward %v, backward %v, want 1000000036.926", fwd, back)
	}
	if got := addSum(0.1, 0.2); got != 0.3 {
		t.Errorf("0.1 + 0.2 = %v, want 0.3", got)
	}
	if got := addSum(math.Pi, 1); got != math.Pi+1 {
		t.Errorf("pi + 1 = %v, want the float sum", got)
	}
}
