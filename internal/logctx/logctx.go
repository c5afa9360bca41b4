// Package logctx tags log lines with the ids of the work they belong to —
// a crawl run and its source, a case and its workflow — carried in the
// context.Context. An activity tags its context once at the top
// (logctx.With); every line logged with that context through a handler
// wrapped by Handler carries the ids, in every package the context reaches
// (the crawler, the capture pipeline, the mailer), without each of them
// being handed a logger.
//
// Ids only: never put document text, URLs' content or personal data here.
package logctx

import (
	"context"
	"log/slog"
	"slices"
)

type key struct{}

// With returns ctx whose log lines carry args (slog's key-value pairs or
// slog.Attr values) as well as those ctx already carried. A key given again
// replaces the earlier value.
func With(ctx context.Context, args ...any) context.Context {
	add := slog.Group("", args...).Value.Group()
	if len(add) == 0 {
		return ctx
	}
	old := Attrs(ctx)
	out := make([]slog.Attr, 0, len(old)+len(add))
	for _, a := range old {
		if !slices.ContainsFunc(add, func(b slog.Attr) bool { return b.Key == a.Key }) {
			out = append(out, a)
		}
	}
	return context.WithValue(ctx, key{}, append(out, add...))
}

// Attrs returns the attributes With put in ctx.
func Attrs(ctx context.Context) []slog.Attr {
	if ctx == nil {
		return nil
	}
	a, _ := ctx.Value(key{}).([]slog.Attr)
	return a
}

// Handler wraps h so that each record logged with a context gets that
// context's attributes.
func Handler(h slog.Handler) slog.Handler { return handler{h} }

type handler struct{ slog.Handler }

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	if attrs := Attrs(ctx); len(attrs) > 0 {
		r = r.Clone()
		r.AddAttrs(attrs...)
	}
	return h.Handler.Handle(ctx, r)
}

func (h handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return handler{h.Handler.WithAttrs(attrs)}
}

func (h handler) WithGroup(name string) slog.Handler { return handler{h.Handler.WithGroup(name)} }
