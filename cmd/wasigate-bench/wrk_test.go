package main

import (
	"testing"
	"time"
)

const wrkReport = `Running 3s test @ http://127.0.0.1:41234/c
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.87ms    3.10ms  47.42ms   88.12%
    Req/Sec     5.46k   512.33     6.31k    70.00%
  Latency Distribution
     50%  812.00us
     75%    5.81ms
     90%    8.02ms
     99%    1.02s
  32610 requests in 3.00s, 5.47MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:  10869.52
Transfer/sec:      1.82MB
`

func TestParseWrk(t *testing.T) {
	tests := []struct {
		name    string
		report  string
		want    load
		wantErr bool
	}{
		{"full report", wrkReport, load{reqs: 10869.52, p50: 812 * time.Microsecond, p99: 1020 * time.Millisecond, bad: 12, requests: 32610}, false},
		{"no requests line", "Running 3s test\n", load{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseWrk(tc.report)
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseWrk: got error %v; want error %v", err, tc.wantErr)
			}
			if err == nil && got != tc.want {
				t.Errorf("parseWrk: got %+v; want %+v", got, tc.want)
			}
		})
	}
}

func TestMedianOf(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := medianOf(tc.in); got != tc.want {
			t.Errorf("medianOf(%v) = %v; want %v", tc.in, got, tc.want)
		}
	}
}
