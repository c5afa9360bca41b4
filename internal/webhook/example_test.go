package webhook_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/leakwatch/leakwatch/internal/webhook"
)

// A receiver reads the raw body, verifies it, then decodes it, and
// deduplicates by delivery id (the same on every retry).
func ExampleVerify() {
	secret := []byte(os.Getenv("SIEM_WEBHOOK_SECRET"))
	http.HandleFunc("POST /leakwatch", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		if err := webhook.Verify(secret, r.Header, body, time.Now(), 5*time.Minute); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev webhook.Envelope
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "bad JSON", http.StatusBadRequest)
			return
		}
		// if seen(ev.ID) { return }  — at-least-once: skip repeats
		w.WriteHeader(http.StatusNoContent)
	})
}
