package router

import (
	"errors"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/host/seam"
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
func learnPreloads(rc *seam.RunConfig, in *interpreter) {
	if len(in.Preload) > 0 || rc.App {
		return
	}
	rc.Learn = true
	for _, v := range in.vols {
		rc.LearnRoots = append(rc.LearnRoots, v.Guest)
	}
}

// logRetakes makes each background retake of the interpreter's snapshot
// (past snapshot_max_age, or with learned preloads), and each that
// failed, one event in the route's log naming the interpreter.
func logRetakes(rc *seam.RunConfig, log zerolog.Logger, ext string, in *interpreter) {
	module := in.Module
	rc.Retaken = func(ev seam.RetakeEvent) {
		e := log.Info()
		msg := "interpreter snapshot retaken"
		switch {
		case ev.Err != nil && len(ev.Reasons) == 0:
			// No retake: the learned list kept in the cache was refused.
			e, msg = log.Warn().Err(ev.Err), "interpreter's kept learned preloads refused"
		case ev.Err != nil && len(ev.Edited) > 0:
			// Its requests answer 500 until the next edit.
			e, msg = log.Error().Err(ev.Err), "interpreter snapshot retake after an edit failed"
		case ev.Err != nil:
			e, msg = log.Warn().Err(ev.Err), "interpreter snapshot retake failed; the old snapshot serves on"
		}
		if len(ev.Edited) > 0 {
			e = e.Strs("edited", ev.Edited)
		}
		e = e.Str("interpreter", ext).Str("module", module).Strs("reasons", ev.Reasons).AnErr("without_learned", ev.Unlearned)
		if ev.Learned > 0 || len(ev.Added) > 0 || len(ev.Dropped) > 0 {
			e = e.Strs("added", ev.Added).Strs("dropped", ev.Dropped).Int("learned", ev.Learned)
		}
		if ev.Err == nil {
			e = e.Uint64("image", ev.Image).Dur("init", ev.Init)
		}
		e.Msg(msg)
	}
}
