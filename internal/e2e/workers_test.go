package e2e

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/leakwatch/leakwatch/internal/temporalproc"
	"github.com/leakwatch/leakwatch/internal/temporalproc/temporaltest"
	"github.com/leakwatch/leakwatch/internal/testkit/leaksim"
	"github.com/leakwatch/leakwatch/internal/testkit/smtpsink"
	"github.com/leakwatch/leakwatch/internal/testkit/smtpsink/badrelay"
	"github.com/leakwatch/leakwatch/storage"
	"github.com/leakwatch/leakwatch/storage/storagetest"
	"github.com/leakwatch/leakwatch/workflows"
)

// TestWorkersSpreadAndSurviveKills runs leakwatch as a team would at scale:
// one leakwatch-temporal server of its own, `leakwatch web` and two
// `leakwatch worker` processes pointed at it, and one application database
// (PostgreSQL when LEAKWATCH_TEST_POSTGRES_DSN is set, else a SQLite file all
// of them share). It shows that activities run on both workers, that a
// worker SIGKILLed mid-crawl has its crawl resumed by the other (same run,
// files already captured not fetched again, every file captured once, hits
// and a case once), that a worker SIGKILLed while its notice waits for the
// relay's greeting (before DATA, so nothing can have been delivered) has the
// notice sent once by another, and that a worker started after a kill joins
// without repeating anything.
func TestWorkersSpreadAndSurviveKills(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test starts the Temporal server")
	}
	dsn := ""
	if os.Getenv(storagetest.PostgresEnv) != "" {
		dsn = storagetest.FreshPostgresDSN(t)
	}
	// Notices first go to a relay that accepts the connection and never
	// greets: a send in flight there cannot have reached DATA.
	relay, err := badrelay.Start(context.Background(), badrelay.Options{Fault: badrelay.StallGreeting})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })
	h := newHarness(t, harnessOptions{postgresDSN: dsn, smtpAddr: relay.Addr()})
	c := newCluster(t, h, dsn)

	// The forum: the leaked samples among enough other files that a crawl
	// capped at a few requests a second is still running when a worker is
	// killed. Redirect links are off so that each file has exactly one URL
	// and the fixture's request counts say how often it was downloaded.
	h.site = leaksim.New(leaksim.Options{Title: "Fixture forum (large)", Files: forumFiles(h, 36), DisableRedirect: true})
	h.siteURL = c.serve(h.site)
	quiet := leaksim.New(leaksim.Options{Title: "Quiet board", DisableMissing: true, DisableHuge: true, DisableOffsite: true,
		DisableRedirect: true, DisableLoop: true,
		Files: []leaksim.File{{Name: "notes.txt", Data: []byte("meeting notes, nothing from any breach\n"), Thread: "misc"}}})
	quietURL := c.serve(quiet)

	h.mustCLI("", "refs", "add", h.refsDir)
	h.mustCLI(lawyerPW+"\n", "users", "add", "lawyer", "--role", "legal", "--password-stdin")
	h.mustCLI(analystPW+"\n", "users", "add", "analyst", "--role", "analyst", "--password-stdin")
	h.mustCLI(adminPW+"\n", "users", "add", "boss", "--role", "admin", "--password-stdin")
	h.mustCLI("", "sources", "add", "forum", h.siteURL, "--rate", "4")
	h.mustCLI("", "sources", "add", "quiet", quietURL)
	forum, quietSrc := c.source("forum"), c.source("quiet")

	c.startWeb()
	w1 := c.startWorker("worker-1", "crawl,scan")
	w2 := c.startWorker("worker-2", "")
	analyst := h.login("analyst", analystPW)

	// 1. Work spreads: crawls of a small site until activities of both
	// workers show in the histories (each crawl is three activities, so a
	// few crawls are plenty unless one worker takes everything).
	for i := 1; ; i++ {
		c.crawlAndWait(analyst, quietSrc)
		got := c.activityWorkers()
		if got[w1.pid] > 0 && got[w2.pid] > 0 {
			t.Logf("activities per worker after %d crawls: %v", i, got)
			break
		}
		if i == 8 {
			t.Fatalf("after %d crawls every activity ran on one worker: %v (workers %d and %d)", i, got, w1.pid, w2.pid)
		}
	}

	// 2. Kill the worker that runs the forum's crawl once it has captured
	// a few files.
	start := time.Now()
	if code := analyst.do("POST", fmt.Sprintf("/api/sources/%d/run", forum.ID), nil, nil); code != http.StatusAccepted {
		t.Fatalf("run the forum's crawl: HTTP %d", code)
	}
	crawlWF := fmt.Sprintf("crawl-manual-%d", forum.ID)
	var run storage.CrawlRun
	var victim *proc
	c.eventually("the forum's crawl to be running on a worker with files captured", time.Minute, func() (bool, error) {
		// The run is the one whose captures come from the forum (a run
		// is listed as recent only once it finished).
		caps, err := c.store.ListCaptures(t.Context(), 500)
		if err != nil {
			return false, err
		}
		i := slices.IndexFunc(caps, func(cp storage.Capture) bool { return cp.SourceID == forum.ID })
		if i < 0 {
			return false, nil
		}
		if run, err = c.store.RunByID(t.Context(), caps[i].RunID); err != nil {
			return false, err
		}
		if run.FinishedAt != nil {
			return false, fmt.Errorf("the crawl finished before a worker could be killed (run %+v): slow the site down", run)
		}
		if n := len(c.fileCaptures(run.ID)); n < 3 {
			return false, nil
		}
		victim = c.runningActivity(crawlWF, "CrawlRun")
		return victim != nil, nil
	})
	before := c.fileCaptures(run.ID)
	victim.kill(t)
	t.Logf("killed %s (pid %d) mid-crawl, %s after the crawl started, with %d of %d files captured",
		victim.name, victim.pid, time.Since(start).Round(time.Millisecond), len(before), len(h.site.Attachments()))
	if r, err := c.store.RunByID(t.Context(), run.ID); err != nil || r.FinishedAt != nil {
		t.Fatalf("run %d after the kill: %+v, %v; want it unfinished", run.ID, r, err)
	}

	var res workflows.CrawlResult
	wctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	err = c.tc.GetWorkflow(wctx, crawlWF, "").Get(wctx, &res)
	cancel()
	if err != nil {
		t.Fatalf("the forum's crawl after the kill: %v", err)
	}
	t.Logf("crawl finished %s after it started: %+v", time.Since(start).Round(time.Millisecond), res)
	c.checkResumedCrawl(forum, run.ID, res, before, victim)

	// 4. A worker started after the kill joins; it must not redo anything.
	w3 := c.startWorker("worker-3", "")

	// 3. The case is drafted; a lawyer approves; kill the worker whose
	// SendNotice waits for the relay's greeting.
	lawyer := h.login("lawyer", lawyerPW)
	cs := c.draftedCase(lawyer)
	k, err := c.store.CaseByID(t.Context(), cs.ID)
	if err != nil {
		t.Fatal(err)
	}
	if code := lawyer.do("POST", fmt.Sprintf("/api/cases/%d/approve", cs.ID), map[string]int{"revision": cs.Notices[0].Revision}, nil); code != http.StatusOK {
		t.Fatalf("lawyer approve: HTTP %d", code)
	}
	var sender *proc
	c.eventually("SendNotice to wait for the relay's greeting", time.Minute, func() (bool, error) {
		if relay.Stats().Conns == 0 {
			return false, nil
		}
		sender = c.runningActivity(k.WorkflowID, "SendNotice")
		return sender != nil, nil
	})
	notice, err := c.store.NoticeByID(t.Context(), cs.Notices[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if notice.State != storage.NoticeSending || notice.DataStartedAt != nil {
		t.Fatalf("notice before the kill: state %s, DATA started %v; want sending, no DATA", notice.State, notice.DataStartedAt)
	}
	sender.kill(t)
	t.Logf("killed %s (pid %d) while it waited for the relay", sender.name, sender.pid)
	// The relay is mended: the same address now accepts mail.
	relayAddr := relay.Addr()
	relay.Close()
	var sink *smtpsink.Sink
	c.eventually("an SMTP sink on the relay's address", 10*time.Second, func() (bool, error) {
		s, err := smtpsink.Start(context.Background(), smtpsink.Options{Addr: relayAddr})
		if err != nil {
			return false, nil
		}
		sink = s
		return true, nil
	})
	t.Cleanup(func() { sink.Close() })
	c.ensureNotifyWorker()

	cs = lawyer.waitCase("the notice to be sent", func(c apiCase) bool { return c.State == "sent" })
	time.Sleep(3 * time.Second) // anything sent twice would have arrived by now
	msgs := sink.Messages()
	if len(msgs) != 1 {
		t.Fatalf("the sink received %d messages; want exactly 1", len(msgs))
	}
	m, err := mail.ReadMessage(bytes.NewReader(msgs[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	notice, err = c.store.NoticeByID(t.Context(), notice.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Header.Get("Message-ID"); got != notice.MessageID || notice.State != storage.NoticeSent || notice.Attempts < 2 {
		t.Errorf("received Message-ID %q, notice %s: state %s after %d attempts; want its Message-ID, sent, after the killed attempt and another",
			got, notice.MessageID, notice.State, notice.Attempts)
	}
	if st := relay.Stats(); st.Data != 0 || st.Messages != 0 {
		t.Errorf("the stalled relay saw %+v; want no DATA", st)
	}
	if n := len(h.sink.Messages()); n != 0 {
		t.Errorf("the harness's own sink received %d messages; want 0", n)
	}
	if sends := c.ranActivity(k.WorkflowID, "SendNotice"); len(sends) != 1 || sends[0].pid == sender.pid || sends[0].attempt < 2 {
		t.Errorf("SendNotice in the case's history: %+v; want one, in a later attempt on another worker than the killed %d", sends, sender.pid)
	}
	if n := h.audited("notice.sent"); n != 1 {
		t.Errorf("notice.sent audited %d times; want 1", n)
	}
	if n := h.audited("case.restarted"); n != 0 {
		t.Errorf("case.restarted audited %d times; the running case was restarted by a joining worker", n)
	}
	got := c.activityWorkers()
	t.Logf("activities per worker at the end: %v (killed %d and %d; worker-3 is %d)", got, victim.pid, sender.pid, w3.pid)
}

// forumFiles is the harness's leaked samples and unrelated file, and n
// filler files in threads of six.
func forumFiles(h *harness, n int) []leaksim.File {
	var files []leaksim.File
	for _, d := range h.leaked {
		files = append(files, leaksim.File{Name: "sample-" + filepath.Base(d.RelPath), Data: h.read(d), Thread: "portal dump samples"})
	}
	files = append(files, leaksim.File{Name: "unrelated.txt", Data: []byte("nothing to see here, just a combolist teaser\n"), Thread: "other"})
	for i := range n {
		files = append(files, leaksim.File{Name: fmt.Sprintf("filler-%02d.txt", i),
			Data:   []byte(strings.Repeat(fmt.Sprintf("filler file %d, not from any breach\n", i), 20)),
			Thread: fmt.Sprintf("archive part %d", i/6+1)})
	}
	return files
}

// cluster is the Temporal server, processes and database of one test.
type cluster struct {
	t      testing.TB
	h      *harness
	srv    *temporalproc.Server
	tc     client.Client
	store  *storage.Store
	queues bool // `worker --queues` exists

	mu    sync.Mutex
	procs []*proc
}

func newCluster(t testing.TB, h *harness, dsn string) *cluster {
	t.Helper()
	c := &cluster{t: t, h: h}
	// The server is the test's, as a deployment's cluster would be: no
	// leakwatch process supervises it or locks the data directory for it.
	c.srv = temporaltest.StartWith(t, temporalproc.Options{DBPath: filepath.Join(h.dir, "temporal", "temporal.db")})
	cfg, err := os.ReadFile(h.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	with := strings.Replace(string(cfg), "\ntemporal:\n", "\ntemporal:\n  address: "+c.srv.Address()+"\n", 1)
	if with == string(cfg) {
		t.Fatal("no temporal: section in the harness config")
	}
	if err := os.WriteFile(h.cfgPath, []byte(with), 0o600); err != nil {
		t.Fatal(err)
	}
	c.tc, err = client.Dial(client.Options{HostPort: c.srv.Address(), Namespace: temporalproc.DefaultNamespace,
		Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.tc.Close)
	c.store, err = storage.Open(t.Context(), dsn, h.dataDir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.store.Close() })
	out, errOut, _ := h.cli("", "worker", "-h")
	c.queues = strings.Contains(out+errOut, "-queues")
	// Registered after the processes' own clean-ups run, so their logs are
	// complete when a failure prints them.
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, p := range c.procs {
			b, _ := os.ReadFile(p.logPath)
			t.Logf("--- %s (pid %d) log, last lines:\n%s", p.name, p.pid, tail(string(b), 40))
		}
	})
	return c
}

// serve serves a leak site on loopback until the test ends and returns its URL.
func (c *cluster) serve(site *leaksim.Site) string {
	c.t.Helper()
	addr, err := site.Serve(c.t.Context(), "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	return "http://" + addr.String() + "/"
}

func (c *cluster) source(name string) storage.Source {
	c.t.Helper()
	src, err := c.store.SourceByName(c.t.Context(), name)
	if err != nil {
		c.t.Fatal(err)
	}
	return src
}

// proc is one leakwatch process of the cluster.
type proc struct {
	name    string
	queues  string // "" = all
	cmd     *exec.Cmd
	pid     int
	logPath string
	done    chan struct{}
}

func (c *cluster) start(name string, args ...string) *proc {
	c.t.Helper()
	p := &proc{name: name, logPath: filepath.Join(c.h.dir, name+".log"), done: make(chan struct{})}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		c.t.Fatal(err)
	}
	p.cmd = exec.Command(c.h.leakwatch, append([]string{"--config", c.h.cfgPath}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	p.pid = p.cmd.Process.Pid
	go func() { p.cmd.Wait(); logf.Close(); close(p.done) }()
	c.t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	return p
}

// kill ends the process at once, as a crash or an OOM kill would.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (c *cluster) startWeb() *proc {
	c.t.Helper()
	p := c.start("web", "web")
	c.eventually("leakwatch web to serve /healthz", time.Minute, func() (bool, error) {
		if !p.alive() {
			return false, fmt.Errorf("leakwatch web exited")
		}
		resp, err := http.Get(c.h.webURL + "/healthz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	return p
}

// startWorker starts `leakwatch worker`, on queues when the command has
// --queues ("" = all), and waits until it polls for activities.
func (c *cluster) startWorker(name, queues string) *proc {
	c.t.Helper()
	args := []string{"worker"}
	if c.queues && queues != "" {
		args = append(args, "--queues", queues)
	} else {
		queues = ""
	}
	p := c.start(name, args...)
	p.queues = queues
	c.eventually(name+" to poll for activities", time.Minute, func() (bool, error) {
		if !p.alive() {
			return false, fmt.Errorf("%s exited", name)
		}
		return c.pollers()[p.pid], nil
	})
	return p
}

// pollers is the set of pids polling the base task queue (temporal.task_queue)
// for activities, which every worker does whatever other queues it serves.
func (c *cluster) pollers() map[int]bool {
	out := map[int]bool{}
	resp, err := c.tc.DescribeTaskQueue(c.t.Context(), "leakwatch", enumspb.TASK_QUEUE_TYPE_ACTIVITY)
	if err != nil {
		return out
	}
	for _, p := range resp.GetPollers() {
		if pollerRecent(p) {
			out[identityPID(p.GetIdentity())] = true
		}
	}
	return out
}

func pollerRecent(p *taskqueuepb.PollerInfo) bool {
	return p.GetLastAccessTime() != nil && time.Since(p.GetLastAccessTime().AsTime()) < time.Minute
}

// identityPID reads the pid from a worker identity, "pid@host@queue" by
// default; 0 if it has none.
func identityPID(id string) int {
	s, _, _ := strings.Cut(id, "@")
	pid, _ := strconv.Atoi(s)
	return pid
}

// ensureNotifyWorker starts one more worker if, after the kills, no live
// worker polls the notify queue (with --queues, worker-1 does not).
func (c *cluster) ensureNotifyWorker() {
	c.mu.Lock()
	ok := false
	for _, p := range c.procs {
		if strings.HasPrefix(p.name, "worker") && p.alive() && (p.queues == "" || strings.Contains(p.queues, "notify")) {
			ok = true
		}
	}
	c.mu.Unlock()
	if !ok {
		c.startWorker("worker-4", "")
	}
}

// eventually is harness.eventually without the `up` log (each process's
// log is printed when the test fails).
func (c *cluster) eventually(what string, timeout time.Duration, cond func() (bool, error)) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			c.t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %s waiting for: %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// crawlAndWait starts a crawl of src through the API and waits for its
// workflow to end.
func (c *cluster) crawlAndWait(a *api, src storage.Source) workflows.CrawlResult {
	c.t.Helper()
	if code := a.do("POST", fmt.Sprintf("/api/sources/%d/run", src.ID), nil, nil); code != http.StatusAccepted {
		c.t.Fatalf("run the crawl of %s: HTTP %d", src.Name, code)
	}
	ctx, cancel := context.WithTimeout(c.t.Context(), time.Minute)
	defer cancel()
	var res workflows.CrawlResult
	if err := c.tc.GetWorkflow(ctx, fmt.Sprintf("crawl-manual-%d", src.ID), "").Get(ctx, &res); err != nil {
		c.t.Fatalf("crawl of %s: %v", src.Name, err)
	}
	return res
}

// runningActivity is the live worker process running activity typ of the
// workflow now, nil if none.
func (c *cluster) runningActivity(workflowID, typ string) *proc {
	d, err := c.tc.DescribeWorkflowExecution(c.t.Context(), workflowID, "")
	if err != nil {
		return nil
	}
	for _, pa := range d.GetPendingActivities() {
		if pa.GetActivityType().GetName() != typ || pa.GetState() != enumspb.PENDING_ACTIVITY_STATE_STARTED {
			continue
		}
		pid := identityPID(pa.GetLastWorkerIdentity())
		c.mu.Lock()
		for _, p := range c.procs {
			if p.pid == pid && p.alive() {
				c.mu.Unlock()
				return p
			}
		}
		c.mu.Unlock()
	}
	return nil
}

// startedActivity is an activity's start as its workflow's history
// records it.
type startedActivity struct {
	workflowID string
	typ        string
	pid        int
	attempt    int32
}

// activities reads every workflow history of the namespace (visibility
// may list a workflow a moment after it started) for the activities
// started.
func (c *cluster) activities() []startedActivity {
	c.t.Helper()
	var out []startedActivity
	var token []byte
	for {
		resp, err := c.tc.ListWorkflow(c.t.Context(), &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: temporalproc.DefaultNamespace, PageSize: 100, NextPageToken: token})
		if err != nil {
			c.t.Fatalf("list workflows: %v", err)
		}
		for _, ex := range resp.GetExecutions() {
			out = append(out, c.history(ex.GetExecution().GetWorkflowId(), ex.GetExecution().GetRunId())...)
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return out
		}
	}
}

// history lists the activities a workflow run's history records as
// started (for one retried, its last attempt); runID "" is the latest run.
func (c *cluster) history(workflowID, runID string) []startedActivity {
	c.t.Helper()
	var out []startedActivity
	types := map[int64]string{}
	it := c.tc.GetWorkflowHistory(c.t.Context(), workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			c.t.Fatalf("history of %s: %v", workflowID, err)
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			types[ev.GetEventId()] = a.GetActivityType().GetName()
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
			out = append(out, startedActivity{workflowID: workflowID, typ: types[a.GetScheduledEventId()],
				pid: identityPID(a.GetIdentity()), attempt: a.GetAttempt()})
		}
	}
	return out
}

// activityWorkers counts the activities each worker pid started.
func (c *cluster) activityWorkers() map[int]int {
	out := map[int]int{}
	for _, a := range c.activities() {
		out[a.pid]++
	}
	return out
}

// ranActivity lists the runs of activity typ in the latest run of
// workflowID, by the pid of the worker of its last attempt.
func (c *cluster) ranActivity(workflowID, typ string) []startedActivity {
	var out []startedActivity
	for _, a := range c.history(workflowID, "") {
		if a.typ == typ {
			out = append(out, a)
		}
	}
	return out
}

// fileCaptures maps the URLs a run captured as files to their captures.
func (c *cluster) fileCaptures(runID uint64) map[string][]storage.Capture {
	c.t.Helper()
	caps, err := c.store.CapturesOfRun(c.t.Context(), runID)
	if err != nil {
		c.t.Fatal(err)
	}
	out := map[string][]storage.Capture{}
	for _, cp := range caps {
		// Files fetched whole: not the 404, nor the dump refused for its size.
		if cp.Kind == storage.CaptureFile && cp.Status == http.StatusOK && cp.Error == "" {
			out[cp.URL] = append(out[cp.URL], cp)
		}
	}
	return out
}

// checkResumedCrawl: the crawl that lost its worker went on in the same
// run on another worker, did not download again what it had captured, and
// captured every file of the site once; every leaked file matched once.
func (c *cluster) checkResumedCrawl(src storage.Source, runID uint64, res workflows.CrawlResult, before map[string][]storage.Capture, victim *proc) {
	t, h := c.t, c.h
	t.Helper()
	runs, err := c.store.RecentRuns(t.Context(), src.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].ID != runID || res.RunID != runID || runs[0].Status != storage.RunOK {
		t.Errorf("runs of the forum %+v, result %+v; want the one run %d, resumed and finished ok", runs, res, runID)
	}
	wf := fmt.Sprintf("crawl-manual-%d", src.ID)
	if starts := c.ranActivity(wf, "StartCrawlRun"); len(starts) != 1 {
		t.Errorf("StartCrawlRun ran %d times; want once", len(starts))
	}
	if crawls := c.ranActivity(wf, "CrawlRun"); len(crawls) != 1 || crawls[0].attempt < 2 || crawls[0].pid == victim.pid {
		t.Errorf("CrawlRun in the crawl's history: %+v; want one, in a later attempt on another worker than the killed %d", crawls, victim.pid)
	}
	caps := c.fileCaptures(runID)
	reqs := h.site.Requests()
	base := strings.TrimSuffix(h.siteURL, "/")
	atts := h.site.Attachments()
	for _, a := range atts {
		got := caps[base+a.Path]
		if len(got) != 1 || got[0].SHA256 != a.SHA256 {
			t.Errorf("file %s captured %d times in the run (%+v); want once, with its SHA-256", a.Path, len(got), got)
		}
		if _, done := before[base+a.Path]; done && reqs[a.Path] != 1 {
			t.Errorf("file %s, captured before the kill, was requested %d times; want once", a.Path, reqs[a.Path])
		}
	}
	if len(caps) != len(atts) {
		t.Errorf("%d files captured; want the site's %d", len(caps), len(atts))
	}
	hits, err := c.store.HitsForTarget(t.Context(), h.siteHost)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	exact := map[string]bool{}
	for _, ht := range hits {
		seen[fmt.Sprintf("%s %d %s", ht.URL, ht.ReferenceID, ht.Method)]++
		if ht.Method == "sha256" {
			exact[ht.CaptureSHA256] = true
		}
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("hit %s recorded %d times", k, n)
		}
	}
	for _, d := range h.leaked {
		if !exact[sha(h.read(d))] {
			t.Errorf("no sha256 hit on leaked %s", d.RelPath)
		}
	}
}

// draftedCase waits for the forum's case to be drafted with a hit on
// every leaked file, and checks the case took no hit in twice.
func (c *cluster) draftedCase(lawyer *api) apiCase {
	c.t.Helper()
	base := strings.TrimSuffix(c.h.siteURL, "/")
	var leakedURLs []string
	for _, a := range c.h.site.Attachments() {
		if strings.HasPrefix(a.Name, "sample-") {
			leakedURLs = append(leakedURLs, base+a.Path)
		}
	}
	cs := lawyer.waitCase("a drafted notice listing every leaked file", func(cs apiCase) bool {
		if cs.State != "drafted" || len(cs.Notices) == 0 {
			return false
		}
		listed := map[string]bool{}
		for _, ht := range cs.Hits {
			listed[ht.URL] = true
		}
		for _, u := range leakedURLs {
			if !listed[u] {
				return false
			}
		}
		return true
	})
	seen := map[string]bool{}
	for _, ht := range cs.Hits {
		k := ht.URL + " " + ht.RefOpaqueID + " " + ht.Method
		if seen[k] {
			c.t.Errorf("the case lists hit %s twice", k)
		}
		seen[k] = true
	}
	cases, err := c.store.ListCases(c.t.Context())
	if err != nil {
		c.t.Fatal(err)
	}
	if len(cases) != 1 {
		c.t.Errorf("%d cases; want the forum's one", len(cases))
	}
	return cs
}
