package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/internal/testkit/smtpsink/badrelay"
)

// prepareCase indexes the references, adds a lawyer, an admin and the
// forum, starts `up`, crawls and waits for the drafted notice; it returns
// the running `up`, the lawyer's API session and the case.
func prepareCase(t *testing.T, h *harness) (*exec.Cmd, *api, apiCase) {
	t.Helper()
	h.mustCLI("", "refs", "add", h.refsDir)
	h.mustCLI(lawyerPW+"\n", "users", "add", "lawyer", "--role", "legal", "--password-stdin")
	h.mustCLI(adminPW+"\n", "users", "add", "boss", "--role", "admin", "--password-stdin")
	h.mustCLI("", "sources", "add", "forum", h.siteURL)
	up := h.up()
	h.mustCLI("", "crawl", "forum")
	lawyer := h.login("lawyer", lawyerPW)
	c := lawyer.waitCase("a drafted notice", func(c apiCase) bool { return c.State == "drafted" && len(c.Notices) > 0 })
	return up, lawyer, c
}

// audited counts an action in the audit log (through the API, as an admin).
func (h *harness) audited(action string) int {
	h.t.Helper()
	var audit struct {
		Events []struct {
			Action string `json:"action"`
		} `json:"events"`
	}
	if code := h.login("boss", adminPW).do("GET", "/api/audit", nil, &audit); code != http.StatusOK {
		h.t.Fatalf("GET /api/audit: HTTP %d", code)
	}
	n := 0
	for _, e := range audit.Events {
		if e.Action == action {
			n++
		}
	}
	return n
}

// relayHarness is a harness whose notices go to a relay with fault.
func relayHarness(t *testing.T, fault badrelay.Fault) (*badrelay.Relay, *harness) {
	t.Helper()
	relay, err := badrelay.Start(context.Background(), badrelay.Options{Fault: fault})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })
	return relay, newHarness(t, harnessOptions{smtpAddr: relay.Addr()})
}

func (h *harness) killUp(cmd interface{ Signal(os.Signal) error }) {
	h.t.Helper()
	if err := cmd.Signal(syscall.SIGKILL); err != nil {
		h.t.Fatal(err)
	}
	time.Sleep(time.Second) // the supervised Temporal server follows its parent
}

// The worker dies after the relay received the whole notice and before it
// could record the send: the retry finds the DATA mark and does not send
// again; the case waits, visibly, at send-uncertain until a lawyer says
// what happened. Exactly one message reaches the relay.
func TestCrashMidSendSendsOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test starts the Temporal server")
	}
	relay, h := relayHarness(t, badrelay.StallAfterData)
	up, lawyer, c := prepareCase(t, h)
	if code := lawyer.do("POST", fmt.Sprintf("/api/cases/%d/approve", c.ID), map[string]int{"revision": c.Notices[0].Revision}, nil); code != http.StatusOK {
		t.Fatalf("approve: HTTP %d", code)
	}
	h.eventually("the relay to receive the notice", time.Minute, func() (bool, error) { return relay.Stats().Messages == 1, nil })
	h.killUp(up.Process)
	h.up()

	lawyer = h.login("lawyer", lawyerPW)
	c = lawyer.waitCase("the case to wait at send-uncertain", func(c apiCase) bool { return c.State == "send-uncertain" })
	time.Sleep(3 * time.Second)
	if st := relay.Stats(); st.Data != 1 || st.Messages != 1 {
		t.Fatalf("relay %+v; want the notice transmitted exactly once", st)
	}
	// The lawyer checked with the host: it arrived.
	out := h.mustCLI("", "cases", "resolve", fmt.Sprint(c.ID), "--as", "lawyer", "--delivered")
	if !strings.Contains(out, "delivered") {
		t.Fatalf("cases resolve: %q", out)
	}
	c = lawyer.waitCase("the case to be sent", func(c apiCase) bool { return c.State == "sent" })
	if n := c.Notices[0]; n.State != "sent" || n.SentAt == nil {
		t.Errorf("notice %+v; want sent", n)
	}
	if st := relay.Stats(); st.Data != 1 {
		t.Errorf("relay saw %d DATA commands after resolution; want 1", st.Data)
	}
}

// The Temporal store is lost while an approved notice is still being sent
// (the relay never answers): on start, `up` finds the open case without a
// workflow and restarts it from the application database, which sends the
// approved notice once, with no new approval and no new hit.
func TestLostTemporalStoreResumesCases(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test starts the Temporal server")
	}
	relay, h := relayHarness(t, badrelay.StallGreeting)
	up, lawyer, c := prepareCase(t, h)
	if code := lawyer.do("POST", fmt.Sprintf("/api/cases/%d/approve", c.ID), map[string]int{"revision": c.Notices[0].Revision}, nil); code != http.StatusOK {
		t.Fatalf("approve: HTTP %d", code)
	}
	h.eventually("a send attempt", time.Minute, func() (bool, error) { return relay.Stats().Conns > 0, nil })
	h.killUp(up.Process)
	dbs, _ := filepath.Glob(filepath.Join(h.dataDir, "temporal.db*"))
	if len(dbs) == 0 {
		t.Fatal("no temporal.db in the data directory")
	}
	for _, f := range dbs {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	h.setSMTP(h.sink.Addr()) // the relay is fixed meanwhile
	h.up()
	// Ready again: the database and the new Temporal server both answer.
	resp, err := http.Get(h.webURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var ready struct {
		Ready  bool
		Checks map[string]string
	}
	err = json.NewDecoder(resp.Body).Decode(&ready)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !ready.Ready || ready.Checks["temporal"] != "ok" || ready.Checks["database"] != "ok" {
		t.Errorf("readyz after restart: HTTP %d %+v (%v)", resp.StatusCode, ready, err)
	}

	lawyer = h.login("lawyer", lawyerPW)
	c = lawyer.waitCase("the notice to be sent", func(c apiCase) bool { return c.State == "sent" })
	if n := c.Notices[0]; n.SentAt == nil || n.ApprovedBy != "lawyer" {
		t.Errorf("notice %+v; want sent, approved by lawyer once", n)
	}
	if n := len(h.sink.Messages()); n != 1 {
		t.Fatalf("sink has %d messages; want 1", n)
	}
	if h.audited("case.restarted") != 1 {
		t.Errorf("case.restarted audited %d times; want 1", h.audited("case.restarted"))
	}
}
