package leaksim

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/leakwatch/leakwatch/internal/testkit"
)

func status(t *testing.T, c *http.Client, u string) int {
	t.Helper()
	resp, _ := testkit.Get(t, c, u)
	return resp.StatusCode
}

func paths(atts []Attachment) []string {
	var out []string
	for _, a := range atts {
		out = append(out, a.Path)
	}
	return out
}

// TestDeleteAndRepost: a deleted file answers 410 at its URL and its mirror
// link, no page links it, its thread's other files stay; a re-post serves
// the same bytes at a new URL in a mirror thread the index lists.
func TestDeleteAndRepost(t *testing.T) {
	files := sampleFiles()
	site := New(Options{Files: files})
	srv := httptest.NewServer(site)
	defer srv.Close()
	c := noRedirect(srv.Client())
	atts := site.Attachments()
	first, sibling := atts[0], atts[1]
	if first.Thread != sibling.Thread {
		t.Fatalf("sample files 0 and 1 should share a thread: %+v %+v", first, sibling)
	}

	if !site.Delete(first.ID) || site.Delete(first.ID) || site.Delete("9999") {
		t.Fatal("Delete should succeed once, and only for a posted id")
	}
	for _, p := range []string{first.Path, "/go/" + first.ID} {
		if got := status(t, c, srv.URL+p); got != http.StatusGone {
			t.Errorf("deleted %s: HTTP %d, want 410", p, got)
		}
	}
	if got := status(t, c, srv.URL+sibling.Path); got != http.StatusOK {
		t.Errorf("sibling %s: HTTP %d", sibling.Path, got)
	}
	_, page := testkit.Get(t, c, srv.URL+first.ThreadPath)
	if bytes.Contains(page, []byte(first.Path)) || bytes.Contains(page, []byte(`"/go/`+first.ID+`"`)) || !bytes.Contains(page, []byte(sibling.Path)) {
		t.Errorf("thread page after delete:\n%s", page)
	}
	if slices.Contains(paths(site.Attachments()), first.Path) {
		t.Error("deleted file still in Attachments")
	}
	if site.Remove(first.Path) {
		t.Error("Remove of a deleted file reported a removal")
	}

	// The same bytes come back elsewhere.
	again, err := site.Repost(first.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if again.Path == first.Path || again.ID == first.ID || again.SHA256 != first.SHA256 || again.Name != first.Name ||
		again.Thread != MirrorThread(first.Thread) || again.ThreadPath == first.ThreadPath {
		t.Errorf("re-post %+v of %+v", again, first)
	}
	resp, data := testkit.Get(t, c, srv.URL+again.Path)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(data, files[0].Data) {
		t.Errorf("re-posted file: %s, %d bytes", resp.Status, len(data))
	}
	if _, page := testkit.Get(t, c, srv.URL+again.ThreadPath); !bytes.Contains(page, []byte(again.Path)) {
		t.Errorf("mirror thread does not link the re-post:\n%s", page)
	}
	var index []byte
	for _, p := range site.PagePaths() {
		if strings.HasPrefix(p, "/?page=") || p == "/" {
			_, b := testkit.Get(t, c, srv.URL+p)
			index = append(index, b...)
		}
	}
	if !bytes.Contains(index, []byte(again.ThreadPath)) {
		t.Error("index does not list the mirror thread")
	}
	if got := status(t, c, srv.URL+first.Path); got != http.StatusGone {
		t.Errorf("original after re-post: HTTP %d, want 410", got)
	}
	// Into a named thread; a live file can be mirrored too.
	named, err := site.Repost(sibling.ID, "Re-up by a fan")
	if err != nil || named.Thread != "Re-up by a fan" {
		t.Errorf("Repost into a named thread: %+v, %v", named, err)
	}
	if _, err := site.Repost("9999", ""); !errors.Is(err, ErrNoFile) {
		t.Errorf("Repost of an unknown id: %v", err)
	}
}

// TestDeleteThreadAndURL: a deleted thread answers 410 on every page and
// for its files, leaves the index, and a file posted under its title
// starts a new thread; DeleteURL resolves file, /go/ and thread page URLs.
func TestDeleteThreadAndURL(t *testing.T) {
	site := New(Options{Files: sampleFiles(), PostsPerPage: 2, Posts: []Post{
		{Thread: "Portal sample part 1", Text: "proof, reply one"},
		{Thread: "Portal sample part 1", Text: "proof, reply two", Files: []File{{Name: "reply.txt", Data: []byte("in a reply")}}},
	}})
	srv := httptest.NewServer(site)
	defer srv.Close()
	c := noRedirect(srv.Client())
	var part1 []Attachment
	for _, a := range site.Attachments() {
		if a.Thread == "Portal sample part 1" {
			part1 = append(part1, a)
		}
	}
	if len(part1) != 3 || part1[2].PagePath == part1[2].ThreadPath {
		t.Fatalf("part 1 attachments %+v", part1)
	}
	threadPath := part1[0].ThreadPath

	if !site.DeleteURL(srv.URL+part1[2].PagePath+"?sort=new") || site.DeleteThread(threadPath) {
		t.Fatal("DeleteURL of a thread page should delete the thread, once")
	}
	for _, p := range []string{threadPath, part1[2].PagePath, threadPath + "/page/1", part1[0].Path, part1[2].Path, "/go/" + part1[1].ID} {
		if got := status(t, c, srv.URL+p); got != http.StatusGone {
			t.Errorf("after thread delete %s: HTTP %d, want 410", p, got)
		}
	}
	if _, index := testkit.Get(t, c, srv.URL+"/"); bytes.Contains(index, []byte(threadPath)) {
		t.Error("deleted thread still listed")
	}
	if len(site.Posts()) != 0 {
		t.Errorf("posts of a deleted thread listed: %+v", site.Posts())
	}
	if p := site.AddFile(File{Name: "x.txt", Data: []byte("x"), Thread: "Portal sample part 1"}); strings.HasPrefix(p, threadPath) {
		t.Errorf("new file joined the deleted thread: %s", p)
	}
	if site.DeleteURL(DumpThreadPath) || site.DeleteThread("full-dump") {
		t.Error("the announcement thread must not be deletable")
	}

	var other Attachment
	for _, a := range site.Attachments() {
		if a.Thread == "Portal sample part 2" {
			other = a
		}
	}
	if !site.DeleteURL("/go/"+other.ID) || site.DeleteURL(other.Path) {
		t.Error("DeleteURL(/go/ID) should delete the file, once")
	}
	if got := status(t, c, srv.URL+other.Path); got != http.StatusGone {
		t.Errorf("file deleted by its /go/ link: HTTP %d", got)
	}
	for _, u := range []string{"/", "/files/", "/nothing", "/rules", "::"} {
		if site.DeleteURL(u) {
			t.Errorf("DeleteURL(%q) deleted something", u)
		}
	}
}

// TestAdminHTTP: the admin endpoints list, delete and re-post over HTTP,
// for loopback clients naming a loopback host only.
func TestAdminHTTP(t *testing.T) {
	var mu sync.Mutex
	var got []Change
	site := New(Options{Files: sampleFiles(), OnChange: func(c Change) { mu.Lock(); got = append(got, c); mu.Unlock() }})
	changes := func() []Change { mu.Lock(); defer mu.Unlock(); return slices.Clone(got) }
	srv := httptest.NewServer(site)
	defer srv.Close()
	c := srv.Client()
	post := func(q string) (int, map[string]any) {
		t.Helper()
		resp, err := c.Post(srv.URL+q, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("POST %s: %s, decode: %v", q, resp.Status, err)
		}
		return resp.StatusCode, out
	}
	list := func() []adminFile {
		t.Helper()
		resp, body := testkit.Get(t, c, srv.URL+AdminPath+"files")
		var out []adminFile
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &out) != nil {
			t.Fatalf("GET files: %s %s", resp.Status, body)
		}
		return out
	}
	files := list()
	if len(files) != len(sampleFiles()) || files[0].Status != http.StatusOK || files[0].URL != srv.URL+files[0].Path {
		t.Fatalf("files %+v", files)
	}
	first := files[0]

	if code, out := post(AdminPath + "delete?file=" + first.ID); code != http.StatusOK || out["deleted"] != "file "+first.ID {
		t.Errorf("delete: %d %v", code, out)
	}
	if got := status(t, c, srv.URL+first.Path); got != http.StatusGone {
		t.Errorf("deleted over HTTP: %d", got)
	}
	if code, _ := post(AdminPath + "delete?file=" + first.ID); code != http.StatusNotFound {
		t.Errorf("second delete: %d, want 404", code)
	}
	for _, q := range []string{"delete", "delete?file=1&thread=x", "repost", "repost?thread=x"} {
		if code, _ := post(AdminPath + q); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, code)
		}
	}
	code, out := post(AdminPath + "repost?file=" + first.ID + "&thread=" + "Mirror+by+fans")
	if code != http.StatusCreated || out["thread"] != "Mirror by fans" || out["path"] == first.Path || out["sha256"] != first.SHA256 {
		t.Fatalf("repost: %d %v", code, out)
	}
	if got := status(t, c, out["url"].(string)); got != http.StatusOK {
		t.Errorf("re-post over HTTP: %d", got)
	}
	if code, _ := post(AdminPath + "repost?file=9999"); code != http.StatusNotFound {
		t.Errorf("repost of an unknown id: %d", code)
	}
	if code, _ := post(AdminPath + "delete?url=" + out["thread_path"].(string)); code != http.StatusOK {
		t.Errorf("delete by url: %d", code)
	}
	var statuses []int
	for _, f := range list() {
		statuses = append(statuses, f.Status)
	}
	if len(statuses) != len(sampleFiles())+1 || statuses[0] != http.StatusGone || statuses[len(statuses)-1] != http.StatusGone {
		t.Errorf("statuses after deletes %v", statuses)
	}
	// Mutations need POST.
	if resp, _ := testkit.Get(t, c, srv.URL+AdminPath+"delete?file="+files[1].ID); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET delete: %s", resp.Status)
	}

	// Not from elsewhere, and not under another host name.
	for _, tc := range []struct{ remote, host string }{
		{"192.0.2.1:1234", "127.0.0.1"}, {"127.0.0.1:1234", "evil.example"}, {"[::1]:1234", "evil.example:80"}, {"garbage", "127.0.0.1"},
	} {
		r := httptest.NewRequest("POST", AdminPath+"delete?file="+files[1].ID, nil)
		r.RemoteAddr, r.Host = tc.remote, tc.host
		w := httptest.NewRecorder()
		site.ServeHTTP(w, r)
		if w.Code != http.StatusForbidden {
			t.Errorf("from %s as %s: %d, want 403", tc.remote, tc.host, w.Code)
		}
	}
	for _, host := range []string{"localhost:8080", "[::1]:80", "127.0.0.1"} {
		r := httptest.NewRequest("GET", AdminPath+"files", nil)
		r.RemoteAddr, r.Host = "[::1]:1234", host
		w := httptest.NewRecorder()
		site.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Errorf("loopback as %s: %d", host, w.Code)
		}
	}
	if got := status(t, c, srv.URL+files[1].Path); got != http.StatusOK {
		t.Errorf("refused deletes deleted: %d", got)
	}

	if c := changes(); len(c) != 3 || c[0] != (Change{Action: "delete", What: "file " + first.ID}) ||
		c[1].Action != "repost" || c[1].Repost.Thread != "Mirror by fans" || c[2].Action != "delete" {
		t.Errorf("changes %+v", c)
	}
	site.Delete(files[2].ID) // the Go methods report nothing
	if c := changes(); len(c) != 3 {
		t.Errorf("Delete reported a change: %+v", c[3:])
	}

	off := httptest.NewServer(New(Options{Files: sampleFiles(), DisableAdmin: true}))
	defer off.Close()
	if resp, _ := testkit.Get(t, off.Client(), off.URL+AdminPath+"files"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("DisableAdmin: %s", resp.Status)
	}
}
