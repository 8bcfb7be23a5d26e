package router

import (
	"reflect"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// A [server] duration left out takes its default, and the model cannot
// tell that from one written as "0s": the two would mean the same, so a
// user who wrote reuse_idle = "0s" to keep no idle instance, or
// write_timeout = "0s" for no bound, would get 30 s or the default bound
// without a word. None of them has a meaning for zero that is safe to
// give it (no read or write bound lets one client hold a connection
// forever; no snapshot age freezes the hash secret), so a zero written is
// refused, naming the key and what to write instead.

// zeroFixes says, for each [server] duration whose zero a user may mean
// as "off", what to write instead.
var zeroFixes = map[string]string{
	"reuse_idle":     "to keep no idle instance, set reuse = false in [defaults] or on the route",
	"shutdown_grace": "use a short grace such as \"1s\" to stop at once",
	"write_timeout":  "a response that keeps writing is never cut; raise it for slow clients",
	"read_timeout":   "raise it for slow uploads",
}

// zeroDurations returns the [server] duration keys written as zero in the
// file md decoded.
func zeroDurations(md toml.MetaData, s Server) []string {
	var out []string
	v, t := reflect.ValueOf(s), reflect.TypeOf(s)
	for i := range t.NumField() {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if f.Type != reflect.TypeOf(Duration(0)) || key == "" || key == "-" {
			continue
		}
		if md.IsDefined("server", key) && v.Field(i).Int() == 0 {
			out = append(out, key)
		}
	}
	return out
}

// zeroProblem is the message for a [server] duration key written as zero;
// def is its default.
func zeroProblem(key string, def time.Duration) string {
	msg := key + " = \"0s\": a zero duration is not accepted (leave the key out for the default, " + def.String() + ")"
	if fix, ok := zeroFixes[key]; ok {
		msg += "; " + fix
	}
	return msg
}

// serverDefault returns the default of the [server] duration key.
func serverDefault(key string) time.Duration {
	v, t := reflect.ValueOf(DefaultServer), reflect.TypeOf(DefaultServer)
	for i := range t.NumField() {
		if k, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ","); k == key {
			return time.Duration(v.Field(i).Int())
		}
	}
	return 0
}
