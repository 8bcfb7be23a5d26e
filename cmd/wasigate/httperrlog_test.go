package main

import (
	"net"
	"testing"
	"time"
)

// TestNetHTTPErrorsInLog: what net/http itself reports (here a client that
// sends bytes that are no TLS record to the TLS listener, which anyone can do at will) is an
// event of the server's JSON log, through its writer. With no ErrorLog it
// went to os.Stderr directly: a plain-text line in the JSON log, written
// past the log's queue on the connection's goroutine, and able to land
// between two write calls of a batch.
func TestNetHTTPErrorsInLog(t *testing.T) {
	certPEM, keyPEM := selfSigned(t)
	s := startServe(t, `
tls_cert = "cert.pem"
tls_key = "key.pem"
[[route]]
path = "/env"
module = "env.wasm"
`, map[string]string{"env.wasm": "guest:env.wasm", "cert.pem": string(certPEM), "key.pem": string(keyPEM)})
	conn, err := net.Dial("tcp", s.url[len("http://"):])
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	// Not a TLS record, nor plain HTTP (which net/http answers with a 400
	// and does not log).
	conn.Write([]byte("\x00\x01\x02\x03\x04\x05\x06\x07\n"))
	var b [512]byte
	conn.Read(b[:])
	conn.Close()
	if !logSays(s.logs, `"level":"warn","source":"net/http","time":`, 5*time.Second) || !logSays(s.logs, `"message":"http: TLS handshake error from 127.0.0.1:`, 5*time.Second) {
		t.Errorf("the server's log has no event for the failed TLS handshake:\n%s", s.logs)
	}
}
