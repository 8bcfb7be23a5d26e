package router

import (
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
)

// PreloadList is an interpreter's preload key: a list of module names
// imported before the snapshot, or "auto" (the same as leaving it out),
// which learns the list from what requests import.
type PreloadList []string

// UnmarshalTOML implements toml.Unmarshaler.
func (p *PreloadList) UnmarshalTOML(data any) error {
	switch v := data.(type) {
	case string:
		if v != "auto" {
			return fmt.Errorf("preload %q: want a list of module names, or \"auto\" to learn it", v)
		}
		*p = nil
		return nil
	case []any:
		list := make(PreloadList, 0, len(v))
		for _, x := range v {
			s, ok := x.(string)
			if !ok {
				return fmt.Errorf("preload: %v is not a module name", x)
			}
			list = append(list, s)
		}
		*p = list
		return nil
	}
	return errors.New("preload: want a list of module names, or \"auto\" to learn it")
}

// learnPreloads makes an interpreter without a preload list learn one:
// from the modules its requests import from its own read-only volumes,
// never from the scripts folder nor a route's volume (wasi/learn.go).
// Each background retake of its snapshot is one event in the log.
func learnPreloads(rc *RunConfig, log zerolog.Logger, ext string, in *interpreter) {
	if len(in.Preload) > 0 || rc.App {
		return
	}
	rc.Learn = true
	for _, v := range in.vols {
		rc.LearnRoots = append(rc.LearnRoots, v.Guest)
	}
	module := in.Module
	rc.Learned = func(added, dropped []string, total int, image uint64, init time.Duration, err error) {
		ev := log.Info()
		if err != nil {
			ev = log.Warn().Err(err)
		}
		ev.Str("interpreter", ext).Str("module", module).Strs("added", added).Strs("dropped", dropped).
			Int("learned", total).Uint64("image", image).Dur("init", init).Msg("preloads learned")
	}
}
