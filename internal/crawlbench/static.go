package crawlbench

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"
)

// static serves the forum's pages from bytes rendered once, as a static
// mirror or a caching front end would, and its files from the site. The
// site renders each page with html/template (~0.3 ms of CPU, in this
// process), which at one connection is a large share of every page's round
// trip for whoever crawls; served static, the comparison measures the
// crawlers rather than the fixture's template engine. Options.LiveRender
// keeps the rendering.
type static struct {
	pages map[string]renderedPage
	next  http.Handler
}

type renderedPage struct {
	status int
	header http.Header
	body   []byte
}

// prerender renders every page path of h once.
func prerender(h http.Handler, paths []string) (*static, time.Duration, error) {
	start := time.Now()
	s := &static{pages: make(map[string]renderedPage, len(paths)), next: h}
	for _, p := range paths {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		if rec.Code != http.StatusOK {
			return nil, 0, fmt.Errorf("crawlbench: pre-rendering %s: HTTP %d", p, rec.Code)
		}
		s.pages[p] = renderedPage{status: rec.Code, header: rec.Header().Clone(), body: rec.Body.Bytes()}
	}
	return s, time.Since(start), nil
}

func (s *static) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	pg, ok := s.pages[r.URL.RequestURI()]
	if !ok || r.Method != http.MethodGet {
		s.next.ServeHTTP(w, r)
		return
	}
	for k, v := range pg.header {
		w.Header()[k] = v
	}
	w.WriteHeader(pg.status)
	_, _ = w.Write(pg.body)
}
