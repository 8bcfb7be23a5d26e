package host

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
)

func TestFullURLTarget(t *testing.T) {
	tests := []struct {
		name, raw, want string
	}{
		{"origin form", "GET /x?a=1 HTTP/1.1\r\nHost: a.example\r\n\r\n", "http://a.example/x?a=1"},
		{"absolute form", "GET http://a.example/x?a=1 HTTP/1.1\r\nHost: a.example\r\n\r\n", "http://a.example/x?a=1"},
		{"escaped path", "GET /a%20b HTTP/1.1\r\nHost: a.example:8080\r\n\r\n", "http://a.example:8080/a%20b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := readRequest(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			if got := "http://" + r.Host + originTarget(r); got != tt.want {
				t.Errorf("X_FULL_URL = %q; want %q", got, tt.want)
			}
		})
	}
}

func readRequest(raw string) (*http.Request, error) {
	return http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
}
