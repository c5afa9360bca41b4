package testkit

import (
	"io"
	"net/http"
	"testing"
)

// Get fetches url with c for a fixture's own tests and returns the
// response with its whole body, failing the test if either cannot be had.
func Get(tb testing.TB, c *http.Client, url string) (*http.Response, []byte) {
	tb.Helper()
	resp, err := c.Get(url)
	if err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp, body
}
