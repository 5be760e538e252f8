// Package history keeps every instance's figures over time (see
// docs/architecture.md, "History"): the Recorder stores one sample of every
// numeric figure each interval, the Roller turns raw samples into 5-minute
// and 1-hour roll-ups once across the fleet (under a lease), and Query
// answers the history API from the tier a range needs.
package history

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Point is one point of a series: a raw sample (Count 1, Min = Max = Sum)
// or a roll-up bucket starting at T. T is unix milliseconds.
type Point struct {
	T     int64
	Min   float64
	Max   float64
	Sum   float64
	Count int64
}

// Mean is Sum / Count.
func (p Point) Mean() float64 { return p.Sum / float64(p.Count) }

// addSum adds two sums as decimals: figures carry a few decimal places
// (the probes round to 3), and their float sum drifts off the decimal one
// (0.1 + 0.2), which no scale up to maxScale would then store exactly.
// Rounded back to the addends' decimal places it is the double nearest the
// exact decimal sum, which the codec stores as an integer. Sums that are
// not such decimals, or too large to scale exactly, add as floats.
func addSum(a, b float64) float64 {
	s := a + b
	ka, kb := scaleOf(a), scaleOf(b)
	if ka < 0 || kb < 0 {
		return s
	}
	f := pow10[max(ka, kb)]
	if m := math.Round(s * f); math.Abs(m) < 1<<53 {
		return m / f
	}
	return s
}

// maxScale is the most decimal places a chunk stores as integers; the
// probes round their figures to at most 3 (probes.round), so real figures
// always fit, and a value that does not is stored as its IEEE bits.
const maxScale = 6

// Chunk layout (before deflate), version 1:
//
//	byte     version (1)
//	byte     flags: bit 0 raw-bits mode, bit 1 every point a single sample
//	byte     scale (decimal places of the integer mode)
//	uvarint  n
//	varint   T[0], then n-1 zigzag delta-of-delta of T
//	         (single samples) nothing more per point but the value
//	         (buckets) n uvarint counts
//	columns  Min, Max (buckets only), Sum (buckets only): integer mode
//	         n zigzag deltas of the scaled integers; raw-bits mode n
//	         8-byte XORs with the previous value's bits
//
// Columnar deltas make a steady series mostly zero bytes, which deflate
// then nearly erases; the values themselves are exact (integers scaled by
// a power of ten that round-trips every stored float).
const (
	codecVersion  = 1
	flagRawBits   = 1
	flagSingleton = 2
)

var pow10 = [...]float64{1, 10, 100, 1e3, 1e4, 1e5, 1e6}

// scaleOf returns the fewest decimal places at which v round-trips through
// an integer, or -1 when none up to maxScale does.
func scaleOf(v float64) int {
	for k := 0; k <= maxScale; k++ {
		m := math.Round(v * pow10[k])
		if math.Abs(m) < 1<<53 && m/pow10[k] == v {
			return k
		}
	}
	return -1
}

// Encoder encodes chunks. It keeps one flate compressor (about a megabyte
// of state) for every chunk it encodes; it is not safe for concurrent use.
type Encoder struct {
	w   *flate.Writer
	out bytes.Buffer
}

// Encode returns the chunk of points, which must be in time order.
func (e *Encoder) Encode(points []Point) ([]byte, error) {
	if len(points) == 0 {
		return nil, errors.New("history: encode: no points")
	}
	single := true
	scale := 0
	rawBits := false
	for _, p := range points {
		if p.Count != 1 || p.Min != p.Max || p.Min != p.Sum {
			single = false
		}
		// The sum too: the samples between min and max may have more
		// decimals than either (0.8 and 1.37 around a 1.125), and a sum
		// stored at min's and max's scale would lose them.
		for _, v := range []float64{p.Min, p.Max, p.Sum} {
			k := scaleOf(v)
			if k < 0 {
				rawBits = true
			}
			scale = max(scale, k)
		}
	}
	if !rawBits && !single {
		// Sums of scaled integers are integers at the same scale, but
		// only while they stay exact in a float64.
		for _, p := range points {
			if math.Abs(p.Sum*pow10[scale]) >= 1<<53 {
				rawBits = true
			}
		}
	}
	var buf []byte
	flags := byte(0)
	if rawBits {
		flags |= flagRawBits
		scale = 0
	}
	if single {
		flags |= flagSingleton
	}
	buf = append(buf, codecVersion, flags, byte(scale))
	buf = binary.AppendUvarint(buf, uint64(len(points)))
	buf = binary.AppendVarint(buf, points[0].T)
	var prevT, prevD int64 = points[0].T, 0
	for _, p := range points[1:] {
		d := p.T - prevT
		buf = binary.AppendVarint(buf, d-prevD)
		prevT, prevD = p.T, d
	}
	if !single {
		for _, p := range points {
			buf = binary.AppendUvarint(buf, uint64(p.Count))
		}
	}
	cols := []func(Point) float64{func(p Point) float64 { return p.Min }}
	if !single {
		cols = append(cols, func(p Point) float64 { return p.Max }, func(p Point) float64 { return p.Sum })
	}
	for _, col := range cols {
		if rawBits {
			var prev uint64
			for _, p := range points {
				b := math.Float64bits(col(p))
				buf = binary.LittleEndian.AppendUint64(buf, b^prev)
				prev = b
			}
			continue
		}
		var prev int64
		for _, p := range points {
			m := int64(math.Round(col(p) * pow10[scale]))
			buf = binary.AppendVarint(buf, m-prev)
			prev = m
		}
	}
	return e.deflate(buf)
}

// Decode returns the points of a chunk made by Encode.
func Decode(data []byte) ([]Point, error) {
	var d Decoder
	return d.Decode(data)
}

// Decoder decodes chunks, keeping its inflater and buffer from one chunk
// to the next: a year's chart reads a hundred chunks, and a new inflater
// for each cost more than the decoding. It is not safe for concurrent use.
type Decoder struct {
	fr  io.ReadCloser
	src bytes.Reader
	out bytes.Buffer
	r   bytes.Reader
}

// Decode returns the points of a chunk made by Encode.
func (dec *Decoder) Decode(data []byte) ([]Point, error) {
	raw, err := dec.inflate(data)
	if err != nil {
		return nil, fmt.Errorf("history: decode: %w", err)
	}
	r := &dec.r
	r.Reset(raw)
	bad := func(what string) error { return fmt.Errorf("history: decode: bad chunk (%s)", what) }
	var head [3]byte
	if _, err := io.ReadFull(r, head[:]); err != nil || head[0] != codecVersion || head[2] > maxScale {
		return nil, bad("header")
	}
	rawBits, single, scale := head[1]&flagRawBits != 0, head[1]&flagSingleton != 0, int(head[2])
	n, err := binary.ReadUvarint(r)
	if err != nil || n == 0 || n > uint64(len(raw)) {
		return nil, bad("length")
	}
	points := make([]Point, n)
	t, err := binary.ReadVarint(r)
	if err != nil {
		return nil, bad("time")
	}
	points[0].T = t
	var d int64
	for i := 1; i < len(points); i++ {
		dd, err := binary.ReadVarint(r)
		if err != nil {
			return nil, bad("time")
		}
		d += dd
		t += d
		points[i].T = t
	}
	for i := range points {
		points[i].Count = 1
		if !single {
			c, err := binary.ReadUvarint(r)
			if err != nil || c == 0 {
				return nil, bad("count")
			}
			points[i].Count = int64(c)
		}
	}
	cols := []func(*Point) *float64{func(p *Point) *float64 { return &p.Min }}
	if !single {
		cols = append(cols, func(p *Point) *float64 { return &p.Max }, func(p *Point) *float64 { return &p.Sum })
	}
	// One buffer for every 8-byte value: declared in the loop it would be
	// allocated for each (io.ReadFull keeps it).
	var b [8]byte
	for _, col := range cols {
		var prevBits uint64
		var prev int64
		for i := range points {
			if rawBits {
				if _, err := io.ReadFull(r, b[:]); err != nil {
					return nil, bad("value")
				}
				prevBits ^= binary.LittleEndian.Uint64(b[:])
				*col(&points[i]) = math.Float64frombits(prevBits)
				continue
			}
			dm, err := binary.ReadVarint(r)
			if err != nil {
				return nil, bad("value")
			}
			prev += dm
			*col(&points[i]) = float64(prev) / pow10[scale]
		}
	}
	if single {
		for i := range points {
			points[i].Max, points[i].Sum = points[i].Min, points[i].Min
		}
	}
	return points, nil
}

func (e *Encoder) deflate(b []byte) ([]byte, error) {
	e.out.Reset()
	if e.w == nil {
		w, err := flate.NewWriter(&e.out, flate.BestSpeed)
		if err != nil {
			return nil, fmt.Errorf("history: encode: %w", err)
		}
		e.w = w
	} else {
		e.w.Reset(&e.out)
	}
	if _, err := e.w.Write(b); err != nil {
		return nil, fmt.Errorf("history: encode: %w", err)
	}
	if err := e.w.Close(); err != nil {
		return nil, fmt.Errorf("history: encode: %w", err)
	}
	return bytes.Clone(e.out.Bytes()), nil
}

func (dec *Decoder) inflate(b []byte) ([]byte, error) {
	dec.src.Reset(b)
	if dec.fr == nil {
		dec.fr = flate.NewReader(&dec.src)
	} else if err := dec.fr.(flate.Resetter).Reset(&dec.src, nil); err != nil {
		return nil, err
	}
	dec.out.Reset()
	// A chunk inflates to well under a megabyte; the bound keeps a
	// corrupt row from costing more.
	if _, err := dec.out.ReadFrom(io.LimitReader(dec.fr, 16<<20)); err != nil {
		return nil, err
	}
	return dec.out.Bytes(), nil
}
