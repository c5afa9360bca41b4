package leaksim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// Moderation: a takedown's effect, and what undoes it. Delete and
// DeleteThread take content down as a host that received a notice would:
// the deleted URLs answer 410 Gone (Remove's answer is 404), and no page
// links them any more. Repost puts a file's bytes up again under a new URL,
// as a mirror would, so a crawler finds them again. The same is offered
// over HTTP under AdminPath for people running the demo (loopback only):
//
//	GET  /_admin/files                          every attachment posted, deleted ones included (JSON)
//	POST /_admin/delete?file=ID                 delete one attachment
//	POST /_admin/delete?thread=SLUG             delete a thread, attachments and all
//	POST /_admin/delete?url=URL                 delete what a URL of the site names (file, /go/ID or thread page)
//	POST /_admin/repost?file=ID[&thread=TITLE]  post attachment ID's bytes again (default thread: MirrorThread of its own)

// AdminPath prefixes the admin endpoints. They are never linked from the
// site's pages.
const AdminPath = "/_admin/"

// ErrNoFile is returned by Repost for an attachment id that was never posted.
var ErrNoFile = errors.New("leaksim: no such attachment")

// MirrorThread is the title of the thread Repost uses when given none.
func MirrorThread(title string) string { return title + " (mirror)" }

// Delete deletes attachment id, as a host acting on a takedown notice
// would: its URL and its /go/<id> mirror link answer 410 Gone and its post
// no longer lists it. It reports whether a live attachment was deleted.
func (s *Site) Delete(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.files[id]
	if a == nil {
		return false
	}
	if removed, _ := a.deleted(); removed {
		return false
	}
	a.removed, a.gone = true, true
	return true
}

// DeleteThread deletes a thread (named by its slug or its /thread/<slug>
// path) with all its attachments: its pages and files answer 410 Gone and
// it leaves the index. A later file posted under the same title starts a
// new thread at a new URL. The announcement thread cannot be deleted. It
// reports whether a live thread was deleted.
func (s *Site) DeleteThread(slugOrPath string) bool {
	slug := strings.TrimPrefix(slugOrPath, "/thread/")
	slug, _, _ = strings.Cut(slug, "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removeThreadLocked(slug, true)
}

// DeleteURL deletes what a URL (or path) of the site names: an attachment
// (/files/<id>/<name>, or its /go/<id> link) or a thread (any of its pages,
// query ignored). It reports whether anything live was deleted.
func (s *Site) DeleteURL(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	p := u.Path
	if rest, ok := strings.CutPrefix(p, "/files/"); ok {
		id, _, _ := strings.Cut(rest, "/")
		return s.Delete(id)
	}
	if id, ok := strings.CutPrefix(p, "/go/"); ok && !strings.Contains(id, "/") {
		return s.Delete(id)
	}
	if strings.HasPrefix(p, "/thread/") {
		return s.DeleteThread(p)
	}
	return false
}

// removeThreadLocked takes thread slug down (gone: with 410 rather than
// 404) and reports whether it was live.
func (s *Site) removeThreadLocked(slug string, gone bool) bool {
	t := s.slugs[slug]
	if t == nil || t.removed || slug == dumpThreadSlug {
		return false
	}
	t.removed, t.gone = true, gone
	delete(s.byTitle, t.title)
	t.eachAttachment(func(a *attachment) { a.removed, a.gone = true, gone })
	return true
}

// Repost posts the bytes of attachment id (deleted or not) again, under
// the same name, as a new attachment of the thread titled thread — created
// if no live thread has that title; empty means MirrorThread of the
// attachment's own thread. The copy has a new URL and a new id.
func (s *Site) Repost(id, thread string) (Attachment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.files[id]
	if a == nil {
		return Attachment{}, fmt.Errorf("%w: %q", ErrNoFile, id)
	}
	if strings.TrimSpace(thread) == "" {
		thread = MirrorThread(a.thread.title)
	}
	t := s.threadLocked(thread, a.thread.board)
	c := s.newAttachmentLocked(File{Name: a.name, Data: a.data}, t, nil)
	t.files = append(t.files, c)
	return s.attachmentInfoLocked(c), nil
}

func (s *Site) attachmentInfoLocked(a *attachment) Attachment {
	return Attachment{
		ID: a.id, Name: a.name, Path: a.path(),
		Thread: a.thread.title, ThreadPath: a.thread.path(),
		Size: int64(len(a.data)), SHA256: a.sha,
		PagePath: s.attachmentPageLocked(a),
	}
}

// Change is a change made through the admin endpoints (Options.OnChange).
type Change struct {
	Action string     // "delete" or "repost"
	What   string     // delete: "file ID", "thread SLUG" or the URL given
	Repost Attachment // repost: the new attachment
}

func (s *Site) changed(c Change) {
	if s.opts.OnChange != nil {
		s.opts.OnChange(c)
	}
}

// goneResponse is the answer for deleted content.
func goneResponse(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "410 gone: deleted by a moderator", http.StatusGone)
}

// adminFile is an attachment as the admin endpoints show it.
type adminFile struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Path       string `json:"path"`
	URL        string `json:"url"`
	Thread     string `json:"thread"`
	ThreadPath string `json:"thread_path"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
	// Status is what its URL answers: 200, 404 (removed) or 410 (deleted).
	Status int `json:"status"`
}

func adminView(a Attachment, r *http.Request, status int) adminFile {
	return adminFile{ID: a.ID, Name: a.Name, Path: a.Path, URL: "http://" + r.Host + a.Path, Thread: a.Thread,
		ThreadPath: a.ThreadPath, Size: a.Size, SHA256: a.SHA256, Status: status}
}

// admin serves h to loopback clients that name a loopback host (so a web
// page elsewhere cannot reach it by DNS rebinding); others get 403.
func (s *Site) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !loopbackRequest(r) {
			http.Error(w, "the admin endpoints answer loopback clients only", http.StatusForbidden)
			return
		}
		h(w, r)
	}
}

func loopbackRequest(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	if ip, err := netip.ParseAddr(host); err != nil || !ip.Unmap().IsLoopback() {
		return false
	}
	h := r.Host
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	h = strings.Trim(h, "[]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Unmap().IsLoopback()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func adminError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func (s *Site) handleAdminFiles(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	var out []adminFile
	for _, t := range s.threads {
		collect := func(a *attachment) {
			status := http.StatusOK
			if removed, gone := a.deleted(); gone && removed {
				status = http.StatusGone
			} else if removed {
				status = http.StatusNotFound
			}
			out = append(out, adminView(s.attachmentInfoLocked(a), r, status))
		}
		for _, a := range t.files {
			collect(a)
		}
		for _, p := range t.posts {
			for _, a := range p.files {
				collect(a)
			}
		}
	}
	s.mu.Unlock()
	if out == nil {
		out = []adminFile{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Site) handleAdminDelete(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var ok bool
	var what string
	switch file, thread, u := q.Get("file"), q.Get("thread"), q.Get("url"); {
	case file != "" && thread == "" && u == "":
		ok, what = s.Delete(file), "file "+file
	case thread != "" && file == "" && u == "":
		ok, what = s.DeleteThread(thread), "thread "+thread
	case u != "" && file == "" && thread == "":
		ok, what = s.DeleteURL(u), u
	default:
		adminError(w, http.StatusBadRequest, "give one of file=ID, thread=SLUG or url=URL")
		return
	}
	if !ok {
		adminError(w, http.StatusNotFound, "nothing live to delete at "+what)
		return
	}
	s.log.InfoContext(r.Context(), "leaksim: deleted", "what", what)
	s.changed(Change{Action: "delete", What: what})
	writeJSON(w, http.StatusOK, map[string]any{"deleted": what, "status": http.StatusGone})
}

func (s *Site) handleAdminRepost(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := q.Get("file")
	if id == "" {
		adminError(w, http.StatusBadRequest, "give file=ID (and optionally thread=TITLE)")
		return
	}
	a, err := s.Repost(id, q.Get("thread"))
	if errors.Is(err, ErrNoFile) {
		adminError(w, http.StatusNotFound, err.Error())
		return
	}
	if err != nil {
		adminError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.log.InfoContext(r.Context(), "leaksim: re-posted", "file", id, "as", a.Path, "thread", a.Thread)
	s.changed(Change{Action: "repost", What: "file " + id, Repost: a})
	writeJSON(w, http.StatusCreated, adminView(a, r, http.StatusOK))
}
