package main

import (
	"math"
	"testing"
)

// wrk's summary as Debian's wrk 4 prints it with --latency.
const wrkOutput = `Running 10s test @ http://127.0.0.1:8080/metrics
  2 threads and 10 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   512.00us  300.10us  12.00ms   90.00%
    Req/Sec    10.00k     1.00k   12.00k    70.00%
  Latency Distribution
     50%  438.00us
     75%  600.00us
     90%  800.00us
     99%    1.52ms
  149380 requests in 10.00s, 2.50GB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  14938.00
Transfer/sec:    256.00MB
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk(wrkOutput)
	if err != nil {
		t.Fatal(err)
	}
	if r.RPS != 14938 || r.Requests != 149380 || r.P50 != 438 || r.P99 != 1520 || r.Bad != 7 {
		t.Fatalf("parsed %+v", r)
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused"); err == nil {
		t.Fatal("no error for an output without a summary")
	}
}

// The server-side percentiles are the histogram's delta across the load,
// interpolated within the bucket where the rank falls.
func TestServerSide(t *testing.T) {
	before := map[float64]float64{0.001: 10, 0.005: 10, 0.01: 10, math.Inf(1): 10}
	// 100 requests: 50 within 1 ms, 49 more within 5 ms, 1 within 10 ms.
	after := map[float64]float64{0.001: 60, 0.005: 109, 0.01: 110, math.Inf(1): 110}
	s := serverSide(before, after)
	if math.Abs(s.P50-1000) > 1e-6 {
		t.Errorf("p50 %v µs, want 1000", s.P50)
	}
	if math.Abs(s.P99-5000) > 1e-6 {
		t.Errorf("p99 %v µs, want 5000", s.P99)
	}
	if math.Abs(s.Under5ms-0.99) > 1e-9 {
		t.Errorf("within 5 ms %v, want 0.99", s.Under5ms)
	}
	if s := serverSide(after, after); s.P99 != 0 {
		t.Errorf("no requests gave %+v", s)
	}
}

func TestThousands(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999.6: "1,000", 1234567: "1,234,567"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%v) = %q, want %q", in, got, want)
		}
	}
}
