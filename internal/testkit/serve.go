package testkit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path"
	"strings"
	"time"
)

// Serve listens on addr (default "127.0.0.1:0") and serves h until ctx
// ends, returning the bound address. Request contexts derive from ctx, so
// ending ctx also stops slow responses in flight. There is no write
// timeout: the fixtures' slow responses are slow on purpose and bound
// themselves. name prefixes the log lines; attrs are added to the first.
func Serve(ctx context.Context, name, addr string, h http.Handler, log *slog.Logger, attrs ...any) (net.Addr, error) {
	addr = cmp.Or(addr, "127.0.0.1:0")
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: listen on %s: %w", name, addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(name+": serve stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		// ctx is already done, so shut down under a fresh bounded context.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
		}
	}()
	log.Info(name+": serving", append([]any{"addr", ln.Addr().String()}, attrs...)...)
	return ln.Addr(), nil
}

// ContentType is the type a fixture site declares for a file name.
func ContentType(name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".pdf":
		return "application/pdf"
	case ".txt":
		return "text/plain; charset=utf-8"
	case ".csv":
		return "text/csv; charset=utf-8"
	case ".png":
		return "image/png"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".zip":
		return "application/zip"
	case ".json":
		return "application/json"
	default:
		return "application/octet-stream"
	}
}
