package webcrawl

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// A page whose posts an earlier page of the crawl already had (a sort or
// highlight variant) is captured, but its links are not followed: each
// variant links the next one, without end.
func TestSameContentLinksNotFollowed(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		switch r.URL.Path {
		case "/":
			fmt.Fprint(w, `<html><body><a href="/thread">thread</a></body></html>`)
		case "/thread":
			n, _ := strconv.Atoi(r.URL.Query().Get("v"))
			// The same post whatever the variant; every variant links the next.
			fmt.Fprintf(w, `<html><body><nav><a href="/thread?v=%d">another order</a></nav>
				<div class="post">the same post in every variant</div></body></html>`, n+1)
		default:
			http.NotFound(w, r)
		}
	}))
	defer ts.Close()
	c, err := New(Options{MaxDepth: 50, MaxPages: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sink := &memSink{}
	st, err := c.Crawl(context.Background(), ts.URL+"/", sink)
	if err != nil {
		t.Fatal(err)
	}
	// "/", "/thread" and its first variant, whose content is the same:
	// that variant's link to the next is not followed.
	if st.Pages != 3 || st.Duplicates != 1 || !sink.has(ts.URL+"/thread?v=1") || sink.has(ts.URL+"/thread?v=2") {
		t.Fatalf("%d pages, %d duplicates; want 3 and 1, the walk ending at the first variant:\n%s", st.Pages, st.Duplicates, sink.dump())
	}
}
