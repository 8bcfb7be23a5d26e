package router

import (
	"strings"
	"testing"
)

// TestInterpreterOptionsConfig: the [[interpreter]] keys beyond ext and
// module (args, env, volumes, scratch, preload) parse, and their mistakes
// fail at startup naming the file and the interpreter.
func TestInterpreterOptionsConfig(t *testing.T) {
	const file = "/site/wasigate.toml"
	cfg, err := ParseConfig(strings.NewReader(`
[[interpreter]]
ext = ".py"
module = "python.wasm"
args = ["-S", "-u"]
env = { PYTHONHOME = "/usr/local" }
preload = ["cgi", "wsgiref.handlers"]
volumes = { "/usr/local/lib/python3.11" = "lib" }
`), file)
	if err != nil {
		t.Fatalf("error %v; want none", err)
	}
	in := cfg.Interpreters[0]
	if got := strings.Join(interpreterEnv(in), " "); got != "PYTHONHOME=/usr/local WASIGATE_PRELOAD=cgi,wsgiref.handlers" {
		t.Errorf("env %q; want PYTHONHOME and WASIGATE_PRELOAD", got)
	}
	if strings.Join(in.Args, " ") != "-S -u" || in.Volumes["/usr/local/lib/python3.11"].Path != "lib" {
		t.Errorf("args %q volumes %v; want -S -u and lib", in.Args, in.Volumes)
	}

	cases := []struct{ name, keys, want string }{
		{"args not an option", `args = ["/cgi-bin/x.py"]`, `args "/cgi-bin/x.py" is not an option`},
		{"args end of options", `args = ["--"]`, `args "--" is not an option`},
		{"env collides with CGI", `env = { QUERY_STRING = "x" }`, `env QUERY_STRING collides with a CGI variable`},
		{"env sets the preload", "env = { WASIGATE_PRELOAD = \"os\" }\npreload = [\"cgi\"]", `env WASIGATE_PRELOAD is set by preload`},
		{"preload list in one word", `preload = ["cgi,os"]`, `preload "cgi,os" is not a module name`},
		{"volume relative", `volumes = { "lib" = "lib" }`, `volume guest path "lib" must be absolute`},
		{"volume on the scripts", `volumes = { "/cgi-bin" = "lib" }`, `interpreters see the scripts folder there`},
		{"volume writable", `volumes = { "/tmp" = { path = "tmp", writable = true } }`, `an interpreter's volumes are read-only`},
		{"volume mounted twice", `volumes = { "/lib" = "lib", "/lib/." = "lib2" }`, `volumes "/lib" and "/lib/." name the same guest folder /lib: keep one`},
		{"scratch_size without scratch", `scratch_size = "1MiB"`, `scratch_size without scratch = true`},
		{"scratch_size tiny", "scratch = true\nscratch_size = 100", `scratch_size must be at least 64KiB`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig(strings.NewReader("[[interpreter]]\next = \".py\"\nmodule = \"p.wasm\"\n"+c.keys+"\n"), file)
			if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), `interpreter #1 ".py"`) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v; want one naming %s, interpreter #1 \".py\" and %q", err, file, c.want)
			}
		})
	}
}
