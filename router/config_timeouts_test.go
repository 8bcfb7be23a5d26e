package router

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestServerIOTimeoutKeys: read_timeout and write_timeout, which bound a
// slow client, parse as durations with 60 s defaults; a bad value fails
// naming the file.
func TestServerIOTimeoutKeys(t *testing.T) {
	tests := []struct {
		name, text  string
		read, write time.Duration
		bad         bool
	}{
		{"defaults", "", 60 * time.Second, 60 * time.Second, false},
		{"set", "[server]\nread_timeout = \"5s\"\nwrite_timeout = \"250ms\"\n", 5 * time.Second, 250 * time.Millisecond, false},
		{"negative", "[server]\nread_timeout = \"-1s\"\n", 0, 0, true},
		{"not a duration", "[server]\nwrite_timeout = \"soon\"\n", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig(strings.NewReader(tt.text+"[[route]]\npath = \"/x\"\nmodule = \"x.wasm\"\n"), "/site/wasigate.toml")
			if tt.bad {
				if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "/site/wasigate.toml") {
					t.Errorf("error %v; want an ErrConfig naming the file", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := cfg.Server.Or(DefaultServer)
			if got := time.Duration(s.ReadTimeout); got != tt.read {
				t.Errorf("read_timeout %v; want %v", got, tt.read)
			}
			if got := time.Duration(s.WriteTimeout); got != tt.write {
				t.Errorf("write_timeout %v; want %v", got, tt.write)
			}
		})
	}
}
