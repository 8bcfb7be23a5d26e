package main

import (
	"context"
	"log/slog"
	"slices"

	"github.com/rs/zerolog"
)

// zerologHandler is a slog.Handler writing to the server's log, so that what
// a package reports through log/slog (wasi says once that write-protect
// tracking is unavailable) is one event of the JSON log like every other,
// instead of a plain-text line on stderr written past the log's queue.
type zerologHandler struct {
	log    zerolog.Logger
	attrs  []slog.Attr // from WithAttrs, keys already prefixed by their group
	prefix string      // the open groups, "a.b."
}

func (h zerologHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h zerologHandler) Handle(_ context.Context, r slog.Record) error {
	var ev *zerolog.Event
	switch {
	case r.Level >= slog.LevelError:
		ev = h.log.Error()
	case r.Level >= slog.LevelWarn:
		ev = h.log.Warn()
	case r.Level >= slog.LevelInfo:
		ev = h.log.Info()
	default:
		ev = h.log.Debug()
	}
	for _, a := range h.attrs {
		ev.Str(a.Key, a.Value.Resolve().String())
	}
	r.Attrs(func(a slog.Attr) bool {
		ev.Str(h.prefix+a.Key, a.Value.Resolve().String())
		return true
	})
	ev.Msg(r.Message)
	return nil
}

func (h zerologHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h.attrs = slices.Clip(h.attrs)
	for _, a := range as {
		h.attrs = append(h.attrs, slog.Attr{Key: h.prefix + a.Key, Value: a.Value})
	}
	return h
}

func (h zerologHandler) WithGroup(name string) slog.Handler {
	if name != "" {
		h.prefix += name + "."
	}
	return h
}
