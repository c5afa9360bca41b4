package storage_test

import (
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

// A case's hits become one item per URL; a removed item matched again
// (in a later capture) is back; dismissals need a reason and cannot undo
// a sent notice.
func TestCaseItems(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		src, run := forumRun(t, s)
		var refs []storage.Reference
		for i := range 2 {
			r := storage.Reference{OpaqueID: fmt.Sprintf("r%d", i), SHA256: fmt.Sprintf("%064x", i+1)}
			must(t, s.DB().Create(&r).Error)
			refs = append(refs, r)
		}
		hit := func(runID uint64, url string, at time.Time, refIdx ...int) []uint64 {
			c := storage.Capture{RunID: runID, SourceID: src.ID, Kind: storage.CaptureFile, URL: url, Host: "leaks.example", FetchedAt: at, SHA256: "ab"}
			_, err := s.SaveCapture(ctx, &c)
			must(t, err)
			var ids []uint64
			for _, i := range refIdx {
				h := storage.Hit{CaptureID: c.ID, ReferenceID: refs[i].ID, Method: "sha256", Target: "leaks.example"}
				_, err := s.AddHit(ctx, &h)
				must(t, err)
				ids = append(ids, h.ID)
			}
			return ids
		}
		c, err := s.EnsureCase(ctx, "leaks.example", "case-leaks")
		must(t, err)
		t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
		ids := append(hit(run.ID, "http://leaks.example/a", t0, 0, 1), hit(run.ID, "http://leaks.example/b", t0, 0)...)
		res, err := s.TakeHits(ctx, c.ID, ids, false)
		must(t, err)
		if len(res.New) != 2 {
			t.Fatalf("new items %v; want 2 (one per URL, not per hit)", res.New)
		}
		if again, err := s.TakeHits(ctx, c.ID, ids, false); err != nil || len(again.New) != 0 {
			t.Fatalf("taking the same hits again: %+v, %v", again, err)
		}
		byItem, err := s.ItemHits(ctx, c.ID)
		must(t, err)
		if len(byItem[res.New[0]]) != 2 || len(byItem[res.New[1]]) != 1 {
			t.Errorf("hits per item %v", byItem)
		}
		a, b := res.New[0], res.New[1]
		if err := s.TriageItems(ctx, c.ID, []uint64{b}, storage.ItemDismissed, " ", "ana"); !errors.Is(err, storage.ErrBadTriage) {
			t.Errorf("dismissal without a reason: %v", err)
		}
		must(t, s.TriageItems(ctx, c.ID, []uint64{a}, storage.ItemConfirmed, "", "ana"))
		must(t, s.TriageItems(ctx, c.ID, []uint64{b}, storage.ItemDismissed, "press release", "ana"))
		must(t, s.MarkItemsListed(ctx, []uint64{a}, 77, t0))
		if err := s.TriageItems(ctx, c.ID, []uint64{a}, storage.ItemDismissed, "oops", "ana"); !errors.Is(err, storage.ErrBadTriage) {
			t.Errorf("dismissing a listed item: %v", err)
		}
		// Removed on re-check, then back in a later crawl.
		must(t, s.RecordRemovalCheck(ctx, &storage.RemovalCheck{CaseID: c.ID, ItemID: a, Result: storage.CheckGone, CheckedAt: t0.Add(10 * time.Minute)}))
		its, err := s.CaseItemsByIDs(ctx, []uint64{a})
		must(t, err)
		if its[0].State != storage.ItemRemoved || its[0].RemovedAt == nil || its[0].Checks != 1 {
			t.Fatalf("after a gone check: %+v", its[0])
		}
		run2, err := s.StartRun(ctx, src.ID)
		must(t, err)
		back, err := s.TakeHits(ctx, c.ID, hit(run2.ID, "http://leaks.example/a", t0.Add(30*time.Minute), 0), false)
		must(t, err)
		if len(back.Reappeared) != 1 || back.Reappeared[0] != a {
			t.Fatalf("reappeared %v; want item %d", back.Reappeared, a)
		}
		its, _ = s.CaseItemsByIDs(ctx, []uint64{a, b})
		if its[0].State != storage.ItemConfirmed || its[0].Reappeared != 1 || its[1].State != storage.ItemDismissed || its[1].Reason != "press release" {
			t.Errorf("items after reappearance: %+v", its)
		}
	})
}

// The same reference found on another host, after a notice to the first
// host listed it, marks the mirror's item with that notice; drafts and
// unrelated references do not.
func TestMirrorNoticedElsewhere(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		src := storage.Source{Name: "blogs", Kind: storage.SourceGeneric, URL: "http://a.example/", Enabled: true}
		must(t, s.CreateSource(ctx, &src))
		run, err := s.StartRun(ctx, src.ID)
		must(t, err)
		var refs []storage.Reference
		for i := range 3 {
			r := storage.Reference{OpaqueID: fmt.Sprintf("m%d", i), SHA256: fmt.Sprintf("%064x", i+10)}
			must(t, s.DB().Create(&r).Error)
			refs = append(refs, r)
		}
		hit := func(host, url string, refIdx ...int) []uint64 {
			c := storage.Capture{RunID: run.ID, SourceID: src.ID, Kind: storage.CaptureFile, URL: url, Host: host, FetchedAt: time.Now().UTC(), SHA256: "cd"}
			_, err := s.SaveCapture(ctx, &c)
			must(t, err)
			var ids []uint64
			for _, i := range refIdx {
				h := storage.Hit{CaptureID: c.ID, ReferenceID: refs[i].ID, Method: "sha256", Target: host}
				_, err := s.AddHit(ctx, &h)
				must(t, err)
				ids = append(ids, h.ID)
			}
			return ids
		}
		notice := func(caseID uint64, rev int, state storage.NoticeState, items ...uint64) storage.Notice {
			n := storage.Notice{CaseID: caseID, Revision: rev, State: state, Recipient: "abuse@a.example", Subject: "s",
				BodyText: "t", BodyHTML: "h", DraftedBy: "system", DraftedAt: time.Now().UTC(), MessageID: fmt.Sprintf("<m%d-%d>", caseID, rev)}
			must(t, s.DB().Create(&n).Error)
			if state == storage.NoticeSent {
				must(t, s.MarkItemsListed(ctx, items, n.ID, time.Now().UTC()))
			}
			return n
		}
		ca, err := s.EnsureCase(ctx, "a.example", "case-a")
		must(t, err)
		ra, err := s.TakeHits(ctx, ca.ID, hit("a.example", "http://a.example/1", 0, 1), true)
		must(t, err)
		sent := notice(ca.ID, 1, storage.NoticeSent, ra.New...)
		// Reference 2 is only in a draft: nothing was noticed yet.
		rd, err := s.TakeHits(ctx, ca.ID, hit("a.example", "http://a.example/2", 2), true)
		must(t, err)
		notice(ca.ID, 2, storage.NoticeDraft, rd.New...)

		cb, err := s.EnsureCase(ctx, "b.example", "case-b")
		must(t, err)
		rb, err := s.TakeHits(ctx, cb.ID, append(hit("b.example", "http://b.example/x", 1), hit("b.example", "http://b.example/y", 2)...), true)
		must(t, err)
		if len(rb.New) != 2 || len(rb.Mirrored) != 1 || rb.Mirrored[0] != rb.New[0] {
			t.Fatalf("mirror take: %+v; want item %d (reference 1, noticed on a.example) mirrored, and not the draft-only one", rb, rb.New[0])
		}
		its, err := s.CaseItemsByIDs(ctx, rb.New)
		must(t, err)
		if got := storage.SplitIDs(its[0].Earlier); len(got) != 1 || got[0] != sent.ID || its[1].Earlier != "" {
			t.Errorf("earlier: %q and %q; want %d and none", its[0].Earlier, its[1].Earlier, sent.ID)
		}
		if refs, err := s.NoticeRefs(ctx, storage.SplitIDs(its[0].Earlier)); err != nil || len(refs) != 1 ||
			refs[0].ID != sent.ID || refs[0].CaseID != ca.ID || refs[0].Target != "a.example" {
			t.Errorf("NoticeRefs: %+v, %v; want notice %d of case %d on a.example", refs, err, sent.ID, ca.ID)
		}
		// The same content again changes nothing; the case's own notices
		// are not "elsewhere".
		again, err := s.TakeHits(ctx, cb.ID, hit("b.example", "http://b.example/x", 1, 0), true)
		must(t, err)
		if len(again.Mirrored) != 0 {
			t.Errorf("taking known content again marked %v mirrored", again.Mirrored)
		}
		own, err := s.TakeHits(ctx, ca.ID, hit("a.example", "http://a.example/3", 1), true)
		must(t, err)
		if len(own.Mirrored) != 0 {
			t.Errorf("a.example's own notice counted as elsewhere: %+v", own)
		}
		// The listed file, matched later by one more reference: the
		// notice listed that content too.
		_, err = s.TakeHits(ctx, ca.ID, hit("a.example", "http://a.example/1", 2), true)
		must(t, err)
		cc, err := s.EnsureCase(ctx, "c.example", "case-c")
		must(t, err)
		rc, err := s.TakeHits(ctx, cc.ID, hit("c.example", "http://c.example/z", 2), true)
		must(t, err)
		if its, _ := s.CaseItemsByIDs(ctx, rc.Mirrored); len(its) != 1 || its[0].Earlier != fmt.Sprint(sent.ID) {
			t.Errorf("content the notice listed under a later reference: mirrored %v", rc.Mirrored)
		}
	})
}

// Once DATA began, a send that did not record its outcome is "may have
// been delivered" for good (it survives the claim's rollback); a relay's
// 4xx clears the mark; a person settles an uncertain notice.
func TestNoticeUncertainSend(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		c, err := s.EnsureCase(ctx, "leaks.example", "case-leaks")
		must(t, err)
		n := newDraft(c.ID, 1)
		_, err = s.CreateNoticeDraft(ctx, n)
		must(t, err)
		must(t, s.ApproveNotice(ctx, n.ID, "lee"))

		_, err = s.BeginSend(ctx, n.ID)
		must(t, err)
		must(t, s.MarkDataStarted(ctx, n.ID, time.Now()))
		must(t, s.MarkSendFailed(ctx, n.ID, "451 try later")) // the relay said no: not delivered
		if _, err := s.BeginSend(ctx, n.ID); err != nil {
			t.Fatalf("retry after a 4xx: %v", err)
		}
		must(t, s.MarkDataStarted(ctx, n.ID, time.Now()))
		// The process dies here. The retry must not send.
		if _, err := s.BeginSend(ctx, n.ID); !errors.Is(err, storage.ErrUncertain) {
			t.Fatalf("retry after a death mid-DATA: %v, want ErrUncertain", err)
		}
		got, err := s.NoticeByID(ctx, n.ID)
		must(t, err)
		if got.State != storage.NoticeUncertain {
			t.Fatalf("state %s; want uncertain recorded", got.State)
		}
		if _, err := s.BeginSend(ctx, n.ID); !errors.Is(err, storage.ErrUncertain) {
			t.Fatalf("another retry: %v, want ErrUncertain", err)
		}
		must(t, s.ResolveUncertain(ctx, n.ID, false, time.Now()))
		if _, err := s.BeginSend(ctx, n.ID); err != nil {
			t.Fatalf("send after a person said not delivered: %v", err)
		}
		must(t, s.MarkSent(ctx, n.ID, time.Now(), "250 ok", "abc"))
		if err := s.ResolveUncertain(ctx, n.ID, true, time.Now()); err == nil {
			t.Error("resolving a sent notice succeeded")
		}
	})
}

// forumRun creates the source "forum" (http://leaks.example/) and starts a
// crawl run of it, the set-up of every case-item test.
func forumRun(t *testing.T, s *storage.Store) (storage.Source, storage.CrawlRun) {
	t.Helper()
	src := storage.Source{Name: "forum", Kind: storage.SourceForum, URL: "http://leaks.example/", Enabled: true}
	must(t, s.CreateSource(t.Context(), &src))
	run, err := s.StartRun(t.Context(), src.ID)
	must(t, err)
	return src, run
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// ConfirmExact confirms a URL that is an exact copy (any of its hits by
// sha256 or text-sha256) and leaves excerpts and likenesses to an analyst.
func TestTakeHitsConfirmExact(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		src, run := forumRun(t, s)
		ref := storage.Reference{OpaqueID: "r0", SHA256: fmt.Sprintf("%064x", 1)}
		must(t, s.DB().Create(&ref).Error)
		hit := func(url string, methods ...string) []uint64 {
			c := storage.Capture{RunID: run.ID, SourceID: src.ID, Kind: storage.CaptureFile, URL: url, Host: "leaks.example", FetchedAt: time.Now().UTC(), SHA256: "ab"}
			_, err := s.SaveCapture(ctx, &c)
			must(t, err)
			var ids []uint64
			for _, m := range methods {
				h := storage.Hit{CaptureID: c.ID, ReferenceID: ref.ID, Method: m, Target: "leaks.example"}
				_, err := s.AddHit(ctx, &h)
				must(t, err)
				ids = append(ids, h.ID)
			}
			return ids
		}
		c, err := s.EnsureCase(ctx, "leaks.example", "case-leaks")
		must(t, err)
		var ids []uint64
		ids = append(ids, hit("http://leaks.example/copy.pdf", "sha256")...)
		ids = append(ids, hit("http://leaks.example/retyped.txt", "winnow", "text-sha256")...)
		ids = append(ids, hit("http://leaks.example/post/1", "winnow")...)
		ids = append(ids, hit("http://leaks.example/photo.jpg", "pdq")...)
		res, err := s.TakeHitsWith(ctx, c.ID, ids, storage.ConfirmExact)
		must(t, err)
		items, err := s.CaseItemsByIDs(ctx, res.New)
		must(t, err)
		got := map[string]storage.ItemState{}
		for _, it := range items {
			got[it.URL] = it.State
		}
		want := map[string]storage.ItemState{
			"http://leaks.example/copy.pdf":    storage.ItemConfirmed,
			"http://leaks.example/retyped.txt": storage.ItemConfirmed,
			"http://leaks.example/post/1":      storage.ItemNew,
			"http://leaks.example/photo.jpg":   storage.ItemNew,
		}
		if !maps.Equal(got, want) {
			t.Errorf("item states %v, want %v", got, want)
		}
	})
}
