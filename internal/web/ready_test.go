package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestReadyz: /readyz is public, answers 200 with every check ok, and 503
// naming the failing check, but not its cause, when one fails.
func TestReadyz(t *testing.T) {
	temporalUp := true
	f := newFixture(t, func(o *Options) {
		o.Ready = []ReadyCheck{{Name: "temporal", Check: func(context.Context) error {
			if !temporalUp {
				return errors.New("dial tcp 10.1.2.3:7233: connection refused")
			}
			return nil
		}}}
	})
	get := func() (int, map[string]any, string) {
		rec := httptest.NewRecorder()
		f.srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("readyz body %q: %v", rec.Body, err)
		}
		return rec.Code, body, rec.Body.String()
	}
	code, body, _ := get()
	checks, _ := body["checks"].(map[string]any)
	if code != http.StatusOK || body["ready"] != true || checks["database"] != "ok" || checks["temporal"] != "ok" {
		t.Errorf("all up: %d %v", code, body)
	}
	temporalUp = false
	code, body, raw := get()
	checks, _ = body["checks"].(map[string]any)
	if code != http.StatusServiceUnavailable || body["ready"] != false || checks["temporal"] != "failing" || checks["database"] != "ok" {
		t.Errorf("temporal down: %d %v", code, body)
	}
	if strings.Contains(raw, "10.1.2.3") {
		t.Errorf("readyz leaks the cause: %s", raw)
	}
	if err := f.store.Close(); err != nil {
		t.Fatal(err)
	}
	code, body, _ = get()
	if checks, _ := body["checks"].(map[string]any); code != http.StatusServiceUnavailable || checks["database"] != "failing" {
		t.Errorf("database closed: %d %v", code, body)
	}
}
