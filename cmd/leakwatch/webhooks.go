package main

import (
	"fmt"
	"os"

	"github.com/leakwatch/leakwatch/internal/webhook"
	"github.com/leakwatch/leakwatch/storage"
)

// webhookDispatcher builds the dispatcher of the configured webhooks.
// Every web process runs one; the database lease lets one of them deliver
// at a time. Without webhooks it only prunes the outbox.
func (e *env) webhookDispatcher(store *storage.Store) (*webhook.Dispatcher, error) {
	eps := make([]webhook.Endpoint, 0, len(e.cfg.Webhooks))
	for i, w := range e.cfg.Webhooks {
		secret := os.Getenv(w.SecretEnv)
		if len(secret) < 16 {
			return nil, fmt.Errorf("webhooks[%d] (%s): environment variable %s must hold the signing secret, at least 16 characters",
				i, w.Name, w.SecretEnv)
		}
		eps = append(eps, webhook.Endpoint{Name: w.Name, URL: w.URL, Secret: []byte(secret), Events: w.Events})
	}
	d, err := webhook.New(webhook.Options{Store: store, Endpoints: eps, BaseURL: e.cfg.Web.BaseURL,
		Logger: e.log.With("component", "webhook")})
	if err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	return d, nil
}
