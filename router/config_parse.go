package router

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
)

// LoadConfig reads and validates the configuration at path. A file with
// [[module]] tables is read as WAGI's modules.toml.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cfg, err := ParseConfig(f, path)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// ParseConfig parses a configuration from r; path names it in messages and
// anchors its relative paths. It validates the result: every problem is
// reported, each naming the file and the route.
func ParseConfig(r io.Reader, path string) (*Config, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var probe map[string]any
	if _, err := toml.Decode(string(data), &probe); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConfig, path, err)
	}
	var cfg *Config
	if _, ok := probe["module"]; ok {
		cfg, err = parseWAGI(data, path)
	} else {
		cfg, err = parseNative(data, path)
	}
	if err != nil {
		return nil, err
	}
	// cache_dir as configured; Build checks the one the server resolves.
	if err := errors.Join(cfg.Validate(), cfg.checkPaths(cfg.CacheDir)); err != nil {
		return nil, err
	}
	return cfg, nil
}

func parseNative(data []byte, path string) (*Config, error) {
	cfg := &Config{File: path}
	md, err := toml.Decode(string(data), cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConfig, path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		var keys []string
		for _, k := range und {
			keys = append(keys, k.String())
		}
		return nil, fmt.Errorf("%w: %s: unknown keys: %s", ErrConfig, path, strings.Join(keys, ", "))
	}
	for i := range cfg.Routes {
		cfg.Routes[i].Index = i + 1
	}
	cfg.zeroServer = zeroDurations(md, cfg.Server)
	cfg.indexTenants()
	return cfg, nil
}

// Dir is the folder relative paths in the configuration are relative to.
func (c *Config) Dir() string {
	if c.BaseDir != "" {
		return c.BaseDir
	}
	return filepath.Dir(c.File)
}

// Abs resolves a path from the configuration against its folder.
func (c *Config) Abs(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir(), p)
}

// ErrConfig is wrapped by every error in the configuration itself: TOML
// syntax, unknown keys, bad values and failed validation.
var ErrConfig = errors.New("invalid configuration")
