package handlers

import "testing"

func TestFramingProblem(t *testing.T) {
	for raw, bad := range map[string]bool{
		"Host: x\r\nContent-Length: 5\r\n":            false,
		"Host: x\r\nTransfer-Encoding: chunked\r\n":   false,
		"Host: x\r\ntransfer-encoding:  chunked \r\n": false,
		"Host: x\r\n": false,
		"Host: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n":  true,
		"Transfer-Encoding: chunked\r\ncontent-length: 0\r\n":             true,
		"Transfer-Encoding: identity\r\n":                                 true,
		"Transfer-Encoding: xchunked\r\n":                                 true,
		"Transfer-Encoding: chunked, gzip\r\n":                            true,
		"Transfer-Encoding: Chunked\r\n":                                  true,
		"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n":    true,
		"Content-Length: 5\r\nContent-Length: 5\r\n":                      true,
		"Host: x\nTransfer-Encoding: chunked\nContent-Length: 1\n":        true,
		"X-Note: Transfer-Encoding: chunked\r\nContent-Length: 5\r\n":     false,
		"X-Transfer-Encoding: gzip\r\nX-Content-Length: 5\r\nHost: x\r\n": false,
	} {
		if got := framingProblem([]byte(raw)) != ""; got != bad {
			t.Errorf("%q: refused %v, want %v", raw, got, bad)
		}
	}
}

func TestCheckDetails(t *testing.T) {
	for raw, ok := range map[string]bool{
		`{"a":"\\u0000"}`:           true,
		`{"a":"\\\u0000"}`:          false,
		`{"a":"\\\\ud800"}`:         true,
		`{"a":"\ud83d\ude00"}`:      true,
		`{"a":"\ud83d"}`:            false,
		`{"a":"\ud83d\u0041"}`:      false,
		`{"a":"\ude00"}`:            false,
		`{"a":1e308,"b":-1.5e-300}`: true,
		`{"a":1e309}`:               false,
		`{"a":-1e309}`:              false,
		`{"a":1e-400}`:              false,
		`{"a":0e-400,"b":0.000}`:    true,
		`{"a":1,"b":{"a":1}}`:       true,
		`{"a":1,"a":1}`:             false,
		`{"\u0061":1,"a":1}`:        false,
		`{"a":[{"x":1},{"x":1}]}`:   true,
	} {
		if got := checkDetails([]byte(raw)) == ""; got != ok {
			t.Errorf("%s: accepted %v, want %v (%s)", raw, got, ok, checkDetails([]byte(raw)))
		}
	}
}
