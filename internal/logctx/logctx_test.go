package logctx

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
)

// TestWithTagsLines: ids put in the context appear on every line logged
// with it, as JSON fields, through loggers made With before or after; a key
// given again replaces its value; a context without ids adds nothing.
func TestWithTagsLines(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(Handler(slog.NewJSONHandler(&buf, nil))).With("component", "worker")
	ctx := With(context.Background(), "run_id", uint64(7), "source_id", uint64(3))
	ctx = With(ctx, "run_id", uint64(8))
	log.InfoContext(ctx, "crawl started")
	log.Info("no context")
	dec := json.NewDecoder(&buf)
	var first, second map[string]any
	if err := dec.Decode(&first); err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(&second); err != nil {
		t.Fatal(err)
	}
	if first["run_id"] != float64(8) || first["source_id"] != float64(3) || first["component"] != "worker" {
		t.Errorf("tagged line: %v", first)
	}
	if _, ok := second["run_id"]; ok {
		t.Errorf("untagged line has run_id: %v", second)
	}
	if got := len(Attrs(ctx)); got != 2 {
		t.Errorf("attrs: %d, want 2", got)
	}
}
