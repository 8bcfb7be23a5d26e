package router

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// cacheLayout makes a folder with a cache folder (holding hmac.key), a
// data folder, an error page, and links to the cache and to /.
func cacheLayout(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "cache", "hmac.key"), "key\n")
	writeFile(t, filepath.Join(dir, "cache", "sub", "x"), "x\n")
	writeFile(t, filepath.Join(dir, "data", "x"), "x\n")
	writeFile(t, filepath.Join(dir, "site", "scripts", "x.txt"), "x\n")
	writeFile(t, filepath.Join(dir, "site", "404.html"), "<h1>gone</h1>\n")
	for link, target := range map[string]string{"tocache": filepath.Join(dir, "cache"), "toroot": "/", "tokey": filepath.Join(dir, "cache", "hmac.key")} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestCacheDirUnreachable: no volume (a route's, a tenant route's, an
// interpreter's, a sendfile route's), scripts folder (static or not) or
// error page may be cache_dir, sit inside it or contain it, however the
// path is spelt (relative, dot-dot, through a link); the configuration is
// refused naming the file, the route and the path. cache_dir here is set
// in the file; TestCacheDirUnreachableResolved checks the one the server
// resolves.
func TestCacheDirUnreachable(t *testing.T) {
	dir := cacheLayout(t)
	const route = "\n[[route]]\npath = \"/x\"\nmodule = \"a.wasm\"\n"
	cases := []struct {
		name, toml string
		want       []string // substrings of the error; none: accepted
	}{
		{"volume is cache_dir", route + `volumes = { "/data" = "cache" }`, []string{`route #1 "/x": volume /data cache`, "is cache_dir"}},
		{"writable volume inside", route + `volumes = { "/data" = { path = "cache/sub", writable = true } }`, []string{"volume /data cache/sub", "sits inside cache_dir"}},
		{"volume contains it", route + `volumes = { "/data" = "." }`, []string{"volume /data .", "contains cache_dir"}},
		{"volume through a link", route + `volumes = { "/data" = "tocache" }`, []string{"volume /data tocache", "is cache_dir"}},
		{"volume through dot-dot", route + `volumes = { "/data" = "data/../cache/sub" }`, []string{"sits inside cache_dir"}},
		{"sendfile volume", route + "sendfile = true\n" + `volumes = { "/data" = "cache" }`, []string{"volume /data cache", "is cache_dir"}},
		{"static scripts folder is cache_dir", "\n[[route]]\npath = \"/s/*\"\nscripts = \"cache\"\nstatic = true\n", []string{`route #1 "/s/*": scripts folder (a static root) cache`, "is cache_dir"}},
		{"scripts folder contains it", "\n[[route]]\npath = \"/s/*\"\nscripts = \".\"\n", []string{"scripts folder .", "contains cache_dir"}},
		{"error page is the key", route + "[errors]\n404 = \"cache/hmac.key\"\n", []string{"[errors]: 404 cache/hmac.key", "sits inside cache_dir"}},
		{"error page through a link", route + "[errors]\n404 = \"tokey\"\n", []string{"[errors]: 404 tokey", "sits inside cache_dir"}},
		{"tenant route volume", "\n[[tenant]]\nname = \"t\"\nhosts = [\"t.test\"]\n[[tenant.route]]\npath = \"/x\"\nmodule = \"a.wasm\"\n" + `volumes = { "/c" = "cache" }`, []string{`tenant "t" route #1 "/x": volume /c cache`}},
		{"tenant error page", "\n[[tenant]]\nname = \"t\"\nhosts = [\"t.test\"]\n[tenant.errors]\n404 = \"cache/hmac.key\"\n[[tenant.route]]\npath = \"/x\"\nmodule = \"a.wasm\"\n", []string{`tenant "t" [errors]: 404 cache/hmac.key`}},
		{"interpreter volume", route + "\n[[interpreter]]\next = \".py\"\nmodule = \"py.wasm\"\n" + `volumes = { "/lib" = "cache/sub" }`, []string{`interpreter #1 ".py": volume /lib cache/sub`, "sits inside"}},
		{"volume of / without allow_root", route + `volumes = { "/host" = "/" }`, []string{"volume /host /", "allow_root = true"}},
		{"volume of / through a link", route + `volumes = { "/host" = "toroot" }`, []string{"volume /host toroot", "allow_root"}},
		{"writable volume of / with allow_root", route + `volumes = { "/host" = { path = "/", writable = true, allow_root = true } }`, []string{"allow_root is for read-only volumes"}},
		{"read-only volume of / with allow_root", route + `volumes = { "/host" = { path = "/", allow_root = true } }`, nil},
		{"folders apart", route + `volumes = { "/data" = { path = "data", writable = true } }` + "\n[[route]]\npath = \"/s/*\"\nscripts = \"site/scripts\"\nstatic = true\n[errors]\n404 = \"site/404.html\"\n", nil},
		{"a sibling named like it", route + `volumes = { "/data" = "cache2" }`, nil},
	}
	if err := os.Mkdir(filepath.Join(dir, "cache2"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(dir, "wasigate.toml")
			_, err := ParseConfig(strings.NewReader("cache_dir = \"cache\"\n"+c.toml), file)
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("error %v; want the configuration accepted", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("configuration accepted; want it refused with %q", c.want)
			}
			if !errors.Is(err, ErrConfig) || !(errors.Is(err, ErrCacheDirReachable) || errors.Is(err, ErrRootVolume)) {
				t.Errorf("error %v; want ErrConfig and ErrCacheDirReachable or ErrRootVolume", err)
			}
			for _, w := range append([]string{file}, c.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q; want it to contain %q", err, w)
				}
			}
		})
	}
}

// TestCacheDirUnreachableResolved: with no cache_dir in the file, Build
// checks the cache folder the server resolved (Options.CacheDir), as
// serve, reload and check pass it, for native and WAGI files alike; and a
// WAGI volume of / is refused, WAGI's format having no way to allow it.
func TestCacheDirUnreachableResolved(t *testing.T) {
	dir := cacheLayout(t)
	cache := filepath.Join(dir, "cache")
	hello := guest("hello.wasm")
	cases := []struct {
		name, file, toml, want string
		atParse                bool // refused as soon as the file is read
	}{
		{"native volume", "wasigate.toml", "[[route]]\npath = \"/x\"\nmodule = " + q(hello) + "\nvolumes = { \"/c\" = " + q(cache) + " }\n", "is cache_dir", false},
		{"WAGI volume", "modules.toml", "[[module]]\nroute = \"/x\"\nmodule = " + q(hello) + "\nvolumes = { \"/c\" = " + q(filepath.Join(cache, "sub")) + " }\n", "sits inside cache_dir", false},
		{"WAGI volume of /", "modules.toml", "[[module]]\nroute = \"/x\"\nmodule = " + q(hello) + "\nvolumes = { \"/h\" = \"/\" }\n", "WAGI's modules.toml has no way to allow it", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(dir, c.file)
			cfg, err := ParseConfig(strings.NewReader(c.toml), file)
			switch {
			case c.atParse && err == nil:
				t.Fatalf("configuration accepted; want it refused with %q", c.want)
			case !c.atParse && err != nil:
				t.Fatalf("config: %v", err)
			case !c.atParse:
				var site *Site
				site, err = Build(t.Context(), cfg, Options{Loader: &fakeLoader{}, Log: zerolog.Nop(), CacheDir: cache})
				if err == nil {
					site.Close(t.Context())
					t.Fatalf("Build succeeded; want it refused with %q", c.want)
				}
			}
			for _, w := range []string{file, `route #1 "/x"`, c.want} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q; want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestWithin(t *testing.T) {
	cases := []struct {
		p, dir string
		want   bool
	}{
		{"/a/b", "/a", true},
		{"/a", "/a", false},
		{"/ab", "/a", false},
		{"/a", "/", true},
		{"/", "/", false},
	}
	for _, c := range cases {
		if got := within(c.p, c.dir); got != c.want {
			t.Errorf("within(%q, %q) = %v; want %v", c.p, c.dir, got, c.want)
		}
	}
}
