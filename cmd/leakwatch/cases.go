package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/leakwatch/leakwatch/storage"
	"github.com/leakwatch/leakwatch/workflows"
)

// casesUse starts with the original three verbs' usage, which scripts and
// tests match.
const casesUse = "usage: leakwatch cases list | cases show CASE | cases approve CASE --as USER [--revision N]" +
	" | cases triage CASE --as USER (--confirm ITEM,... | --dismiss ITEM,... --reason R)" +
	" | cases request-changes CASE --as USER --revision N --comment C" +
	" | cases edit CASE --as USER --revision N [--subject S] [--text-file F|-] [--comment C]" +
	" | cases pull CASE --as USER --revision N" +
	" | cases ack CASE --as USER --note N" +
	" | cases recipient CASE --as USER --to ADDRS [--type T]" +
	" | cases resolve CASE --as USER --delivered|--not-delivered" +
	" | cases close CASE --as USER --reason R" +
	" | cases recheck CASE --as USER" +
	" (cases list takes --state S)"

// casesUsage is the usage error, with what was wrong first when known.
func casesUsage(why string) error {
	if why == "" {
		return errors.New(casesUse)
	}
	return fmt.Errorf("%s; %s", why, casesUse)
}

func runCases(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return casesUsage("")
	}
	verb, rest := args[0], args[1:]
	switch verb {
	case "list":
		fset := flag.NewFlagSet("cases list", flag.ContinueOnError)
		state := fset.String("state", "", "only cases in this state")
		pos, err := e.parseFlags(fset, rest)
		if err != nil {
			return err
		}
		if len(pos) != 0 {
			return casesUsage("")
		}
		if *state != "" && !slices.Contains(storage.CaseStates(), storage.CaseState(*state)) {
			return fmt.Errorf("cases list: unknown state %q; one of %s", *state, joinCaseStates())
		}
		store, err := e.openStore(ctx)
		if err != nil {
			return err
		}
		cs, err := store.ListCases(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTARGET\tSTATE\tRECIPIENT\tUPDATED")
		for _, c := range cs {
			if *state != "" && string(c.State) != *state {
				continue
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", c.ID, c.Target, c.State, c.Recipient, c.UpdatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	case "show":
		pos, err := e.parseFlags(flag.NewFlagSet("cases show", flag.ContinueOnError), rest)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return casesUsage("")
		}
		store, err := e.openStore(ctx)
		if err != nil {
			return err
		}
		return showCase(ctx, e, store, pos[0])
	case "metrics":
		return casesMetrics(ctx, e, rest)
	}

	// Every other verb acts on one case as a named user.
	fset := flag.NewFlagSet("cases "+verb, flag.ContinueOnError)
	as := fset.String("as", "", "username acting (role legal or admin, except for triage and recheck)")
	var (
		rev                  *int
		confirm, dismiss     *string
		reason, comment      *string
		subject, textFile    *string
		note, to, rtype      *string
		delivered, undeliv   *bool
		needRev, needComment bool
	)
	switch verb {
	case "approve":
		rev = fset.Int("revision", 0, "notice revision to approve (default: the current draft; a refused notice's to re-approve it)")
	case "triage":
		confirm = fset.String("confirm", "", "comma-separated item ids to confirm as the breach")
		dismiss = fset.String("dismiss", "", "comma-separated item ids to dismiss (needs --reason)")
		reason = fset.String("reason", "", "why the items are dismissed")
	case "request-changes":
		rev = fset.Int("revision", 0, "the draft revision sent back")
		comment = fset.String("comment", "", "what should change")
		needRev, needComment = true, true
	case "edit":
		rev = fset.Int("revision", 0, "the draft revision edited")
		subject = fset.String("subject", "", "new subject")
		textFile = fset.String("text-file", "", "file holding the new text (- for standard input)")
		comment = fset.String("comment", "", "note on the edit")
		needRev = true
	case "pull":
		rev = fset.Int("revision", 0, "the draft revision the pending items are added to")
		needRev = true
	case "ack":
		note = fset.String("note", "", "what the host replied")
	case "recipient":
		to = fset.String("to", "", "comma-separated takedown addresses")
		rtype = fset.String("type", "", "recipient type: hosting, registrar, cdn, forum, filehost, telegram, search-engine")
	case "resolve":
		delivered = fset.Bool("delivered", false, "the notice that may have been delivered was delivered")
		undeliv = fset.Bool("not-delivered", false, "it was not delivered: send it again")
	case "close":
		reason = fset.String("reason", "", "why the case is closed")
	case "recheck":
	default:
		return casesUsage("")
	}
	pos, err := e.parseFlags(fset, rest)
	if err != nil {
		return err
	}
	switch {
	case len(pos) != 1:
		return casesUsage("")
	case *as == "":
		return casesUsage("cases " + verb + " needs --as USER")
	case needRev && *rev < 1:
		return casesUsage("cases " + verb + " needs --revision N")
	case needComment && strings.TrimSpace(*comment) == "":
		return casesUsage("cases " + verb + " needs --comment")
	}

	var act cliCaseAction
	switch verb {
	case "approve":
		act = cliCaseAction{audit: "notice.approve", legal: true, detail: fmt.Sprintf("revision %d", *rev),
			run: func(ctx context.Context, svc *workflows.Cases, cs storage.Case, u storage.User) (string, error) {
				if err := svc.Approve(ctx, cs.ID, *rev, u); err != nil {
					return "", err
				}
				return fmt.Sprintf("case %d: notice approved by %s; it will be sent now", cs.ID, u.Username), nil
			}}
	case "triage":
		if (*confirm == "") == (*dismiss == "") {
			return casesUsage("cases triage needs either --confirm or --dismiss")
		}
		list, decision := *confirm, "confirm"
		if *dismiss != "" {
			list, decision = *dismiss, "dismiss"
			if strings.TrimSpace(*reason) == "" {
				return casesUsage("cases triage --dismiss needs --reason")
			}
		}
		ids, err := parseItemIDs(list)
		if err != nil {
			return err
		}
		r := strings.TrimSpace(*reason)
		act = cliCaseAction{audit: "case.triage", detail: fmt.Sprintf("decision %s, items %s, reason %q", decision, storage.JoinIDs(ids), r),
			run: func(ctx context.Context, svc *workflows.Cases, cs storage.Case, u storage.User) (string, error) {
				if err := svc.Triage(ctx, cs.ID, u, ids, decision == "confirm", r); err != nil {
					return "", err
				}
				return fmt.Sprintf("case %d: %d item(s) %sed by %s", cs.ID, len(ids), decision, u.Username), nil
			}}
	case "request-changes":
		c := strings.TrimSpace(*comment)
		act = cliCaseAction{audit: "case.request-changes", legal: true, detail: fmt.Sprintf("revision %d, comment %q", *rev, c),
			run: func(ctx context.Context, svc *workflows.Cases, cs storage.Case, u storage.User) (string, error) {
				if err := svc.RequestChanges(ctx, cs.ID, u, *rev, c); err != nil {
					return "", err
				}
				return fmt.Sprintf("case %d: changes requested to revision %d", cs.ID, *rev), nil
			}}
	case "edit", "pull":
		in := workflows.ReviseInput{Revision: *rev, PullPending: verb == "pull"}
		if verb == "edit" {
			in.Subject, in.Comment = strings.TrimSpace(*subject), strings.TrimSpace(*comment)
			if *textFile != "" {
				text, err := readTextFile(e, *textFile)
				if err != nil {
					return err
				}
				in.Text = text
			}
			if in.Subject == "" && in.Text == "" {
				return casesUsage("cases edit needs --subject or --text-file")
			}
		}
		act = cliCaseAction{audit: "case.revise", legal: true,
			detail: fmt.Sprintf("revision %d, subject changed %t, text %d bytes, pull pending %t", in.Revision, in.Subject != "", len(in.Text), in.PullPending),
			run: func(ctx context.Context, svc *workflows.Cases, cs storage.Case, u storage.User) (string, error) {
				n, err := svc.Revise(ctx, cs.ID, u, in)
				if err != nil {
					return "", err
				}
				return fmt.Sprintf("case %d: revision %d drafted; read it with `leakwatch cases show %d` before approving", cs.ID, n, cs.ID), nil
			}}
	case "ack":
		n := strings.TrimSpace(*note)
		if n == "" {
			return casesUsage("cases ack needs --note")
		}
		act = cliCaseAction{audit: "case.acknowledge", legal: true, detail: fmt.Sprintf("note %q", n),
			run: func(ctx context.Context, svc *workflows.Cases, cs storage.Case, u storage.User) (string, error) {
				if err := svc.Acknowledge(ctx, cs.ID, u, n); err != nil {
					return "", err
				}
				return fmt.Sprintf("case %d: the host's reply was recorded", cs.ID), nil
			}}
	case "recipient":
		addrs, t := strings.TrimSpace(*to), strings.TrimSpace(*rtype)
		if addrs == "" {
			return casesUsage("cases recipient needs --to ADDRS")
		}
		act = cliCaseAction{audit: "case.recipient", legal: true, detail: fmt.Sprintf("addresses %q, type %q", addrs, t),
			run: func(ctx context.Context, svc *workflows.Cases, cs storage.Case, u storage.User) (string, error) {
				if err := svc.SetRecipient(ctx, cs.ID, u, addrs, t); err != nil {
					return "", err
				}
				return fmt.Sprintf("case %d: notices go to %s", cs.ID, addrs), nil
			}}
	case "resolve":
		if *delivered == *undeliv {
			return casesUsage("cases resolve needs exactly one of --delivered or --not-delivered")
		}
		d := *delivered
		act = cliCaseAction{audit: "case.resolve-send", legal: true, detail: fmt.Sprintf("delivered %t", d),
			run: func(ctx context.Context, svc *workflows.Cases, cs storage.Case, u storage.User) (string, error) {
				if err := svc.ResolveSend(ctx, cs.ID, u, d); err != nil {
					return "", err
				}
				if d {
					return fmt.Sprintf("case %d: the notice is recorded as delivered", cs.ID), nil
				}
				return fmt.Sprintf("case %d: the notice is recorded as not delivered; it will be sent again", cs.ID), nil
			}}
	case "close":
		r := strings.TrimSpace(*reason)
		if r == "" {
			return casesUsage("cases close needs --reason")
		}
		act = cliCaseAction{audit: "case.close", legal: true, detail: fmt.Sprintf("reason %q", r),
			run: func(ctx context.Context, svc *workflows.Cases, cs storage.Case, u storage.User) (string, error) {
				if err := svc.Close(ctx, cs.ID, u, r); err != nil {
					return "", err
				}
				return fmt.Sprintf("case %d: closing", cs.ID), nil
			}}
	case "recheck":
		act = cliCaseAction{audit: "case.recheck",
			run: func(ctx context.Context, svc *workflows.Cases, cs storage.Case, u storage.User) (string, error) {
				if err := svc.Recheck(ctx, cs.ID, u); err != nil {
					return "", err
				}
				return fmt.Sprintf("case %d: re-check requested", cs.ID), nil
			}}
	}
	return runCaseAction(ctx, e, pos[0], *as, act)
}

func joinCaseStates() string {
	s := make([]string, 0, len(storage.CaseStates()))
	for _, st := range storage.CaseStates() {
		s = append(s, string(st))
	}
	return strings.Join(s, ", ")
}

// parseItemIDs reads "3,4, 7" strictly.
func parseItemIDs(s string) ([]uint64, error) {
	var out []uint64
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(f), "#"))
		if f == "" {
			continue
		}
		id, err := strconv.ParseUint(f, 10, 64)
		if err != nil || id == 0 {
			return nil, fmt.Errorf("item %q is not an item id (see leakwatch cases show)", f)
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no item ids given")
	}
	return out, nil
}

// readTextFile reads a notice text from a file, or standard input for "-",
// with CRLF line ends made LF.
func readTextFile(e *env, name string) (string, error) {
	var b []byte
	var err error
	if name == "-" {
		b, err = io.ReadAll(io.LimitReader(e.stdin, 1<<20))
	} else {
		b, err = os.ReadFile(name)
	}
	if err != nil {
		return "", fmt.Errorf("read notice text: %w", err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n"), nil
}

// cliCaseAction is one thing a person asks a case to do from the command
// line.
type cliCaseAction struct {
	audit  string // audit action: <audit>.request, .denied, .rejected and <audit>
	legal  bool   // needs the legal or admin role
	detail string // audit detail, after "as USER"; never document content
	run    func(ctx context.Context, svc *workflows.Cases, cs storage.Case, u storage.User) (string, error)
}

// runCaseAction acts on the case ref as user `as` through the case
// workflow, audited like the web's actions: the request, then its outcome,
// by the operating-system user running the command.
func runCaseAction(ctx context.Context, e *env, ref, as string, act cliCaseAction) error {
	if _, err := e.loadConfig(false); err != nil {
		return err
	}
	store, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	cs, err := store.CaseByRef(ctx, ref)
	if err != nil {
		return err
	}
	u, err := store.UserByUsername(ctx, as)
	if err != nil {
		return err
	}
	if u.Disabled {
		return fmt.Errorf("user %s is disabled", u.Username)
	}
	obj, actor := fmt.Sprintf("case:%d", cs.ID), cliActor()
	detail := "as " + u.Username
	if act.detail != "" {
		detail += ", " + act.detail
	}
	if act.legal && !u.Role.CanApproveNotices() {
		if err := store.Audit(ctx, actor, act.audit+".denied", obj, detail+", role "+string(u.Role)); err != nil {
			return err
		}
		return fmt.Errorf("%s has the %s role; this needs legal or admin", u.Username, u.Role)
	}
	c, err := dialTemporal(ctx, e, "")
	if err != nil {
		return err
	}
	defer c.Close()
	if err := store.Audit(ctx, actor, act.audit+".request", obj, detail); err != nil {
		return err
	}
	svc := &workflows.Cases{Client: c, Store: store}
	msg, err := act.run(ctx, svc, cs, u)
	if err != nil {
		err = cliCaseError(cs.ID, err)
		if aerr := store.Audit(ctx, actor, act.audit+".rejected", obj, detail+", error "+truncateCLI(err.Error(), 300)); aerr != nil {
			return errors.Join(err, aerr)
		}
		return err
	}
	if err := store.Audit(ctx, actor, act.audit, obj, detail); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, msg)
	return nil
}

// cliCaseError says why the case refused, without the Temporal error's
// decoration.
func cliCaseError(caseID uint64, err error) error {
	if !errors.Is(err, workflows.ErrRejected) {
		return err
	}
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) && ae.Message() != "" {
		return fmt.Errorf("case %d refused: %s", caseID, ae.Message())
	}
	return fmt.Errorf("case %d refused: %w", caseID, err)
}

func truncateCLI(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

func fmtTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "—"
	}
	return t.UTC().Format(time.RFC3339)
}

// showCase prints what the database holds of a case: its items (one per
// URL, with every reference and method that matched), notices, re-checks
// and the current draft. It needs no Temporal.
func showCase(ctx context.Context, e *env, store *storage.Store, ref string) error {
	c, err := store.CaseByRef(ctx, ref)
	if err != nil {
		return err
	}
	w := e.stdout
	fmt.Fprintf(w, "case %d  target %s  state %s  recipient %s\nworkflow %s  opened %s  updated %s\n",
		c.ID, c.Target, c.State, c.Recipient, c.WorkflowID, c.OpenedAt.Format(time.RFC3339), c.UpdatedAt.Format(time.RFC3339))
	if c.Detail != "" {
		fmt.Fprintf(w, "waiting because: %s\n", c.Detail)
	}
	if c.Reopened > 0 {
		fmt.Fprintf(w, "reopened %d time(s)\n", c.Reopened)
	}
	if c.AckedAt != nil {
		fmt.Fprintf(w, "host replied %s: %s\n", fmtTime(c.AckedAt), c.AckNote)
	}
	if c.EscalatedAt != nil {
		fmt.Fprintf(w, "escalated %s\n", fmtTime(c.EscalatedAt))
	}
	if c.VerifiedAt != nil {
		fmt.Fprintf(w, "verified removed %s\n", fmtTime(c.VerifiedAt))
	}
	if c.ClosedAt != nil {
		fmt.Fprintf(w, "closed %s\n", fmtTime(c.ClosedAt))
	}
	if e.cfg != nil {
		if p := e.cfg.Notices.Police; p != "" {
			fmt.Fprintf(w, "police: %s\n", p)
		}
		if r := e.cfg.Notices.Regulator; r != "" {
			fmt.Fprintf(w, "regulator: %s\n", r)
		}
	}

	items, err := store.CaseItems(ctx, c.ID)
	if err != nil {
		return err
	}
	hits, err := store.ItemHits(ctx, c.ID)
	if err != nil {
		return err
	}
	ns, err := store.NoticesForCase(ctx, c.ID)
	if err != nil {
		return err
	}
	var draft *storage.Notice
	var busy []uint64 // items of the draft and of an approved notice not yet sent
	var refs []string
	for i := range ns {
		n := &ns[i]
		switch n.State {
		case storage.NoticeDraft, storage.NoticeChangesRequested:
			if draft == nil {
				draft = n
			}
			busy = append(busy, storage.SplitIDs(n.ItemIDs)...)
		case storage.NoticeApproved, storage.NoticeSending, storage.NoticeUncertain, storage.NoticeRefused:
			busy = append(busy, storage.SplitIDs(n.ItemIDs)...)
		}
	}
	for i := len(ns) - 1; i >= 0; i-- {
		if n := ns[i]; n.State == storage.NoticeSent && n.Reference != "" && !slices.Contains(refs, n.Reference) {
			refs = append(refs, n.Reference)
		}
	}
	if len(refs) > 0 {
		fmt.Fprintf(w, "notices sent: %s\n", strings.Join(refs, ", "))
	}

	fmt.Fprintf(w, "\nitems (%d):\n", len(items))
	var pending []storage.CaseItem
	for _, it := range items {
		fmt.Fprintf(w, "  #%d  %s  %s\n", it.ID, it.State, it.URL)
		fmt.Fprintf(w, "      captured %s  sha256 %s  listed %s  removed %s", it.CapturedAt.UTC().Format(time.RFC3339),
			it.SHA256, fmtTime(it.ListedAt), fmtTime(it.RemovedAt))
		if it.CheckResult != "" {
			fmt.Fprintf(w, "  last check %s %s", it.CheckResult, fmtTime(it.CheckedAt))
		}
		fmt.Fprintln(w)
		var matched []string
		for _, h := range hits[it.ID] {
			ref := h.RefOpaqueID
			if ref == "" {
				ref = "(keyword)"
			}
			m := fmt.Sprintf("%s %s %.2f", ref, h.Method, h.Score)
			if !slices.Contains(matched, m) {
				matched = append(matched, m)
			}
		}
		if len(matched) > 0 {
			fmt.Fprintf(w, "      matched: %s\n", strings.Join(matched, "; "))
		}
		if it.State == storage.ItemDismissed {
			fmt.Fprintf(w, "      dismissed by %s: %s\n", it.TriagedBy, it.Reason)
		}
		if it.Reappeared > 0 {
			fmt.Fprintf(w, "      came back %d time(s)\n", it.Reappeared)
		}
		earlier, err := store.NoticeRefs(ctx, storage.SplitIDs(it.Earlier))
		if err != nil {
			return err
		}
		for _, n := range earlier {
			fmt.Fprintf(w, "      noticed before on %s (case %d): %s sent %s\n", n.Target, n.CaseID, n.Reference, fmtTime(n.SentAt))
		}
		if it.State == storage.ItemConfirmed && it.NoticeID == 0 && !slices.Contains(busy, it.ID) {
			pending = append(pending, it)
		}
	}
	all, err := store.HitsForTarget(ctx, c.Target)
	if err != nil {
		return err
	}
	if n := len(all) - countAssigned(all); n > 0 {
		fmt.Fprintf(w, "  (%d hit(s) not yet taken into items)\n", n)
	}

	fmt.Fprintf(w, "\nnotices (%d):\n", len(ns))
	if len(ns) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "REV\tREFERENCE\tKIND\tNO\tSTATE\tRECIPIENT\tAPPROVED BY\tSENT\tRELAY RESPONSE\tBODY SHA-256")
		for _, n := range ns {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Revision, dash(n.Reference), n.Kind, n.Number, n.State,
				n.Recipient, dash(n.ApprovedBy), fmtTime(n.SentAt), dash(n.RelayResponse), dash(n.BodySHA256))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, n := range ns {
			if n.LastError != "" && n.State != storage.NoticeSent {
				fmt.Fprintf(w, "  revision %d last error: %s\n", n.Revision, n.LastError)
			}
		}
	}

	checks, err := store.RemovalChecks(ctx, c.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nremoval checks (%d):\n", len(checks))
	if len(checks) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CHECKED\tITEM\tRESULT\tDETAIL")
		for _, rc := range checks {
			fmt.Fprintf(tw, "%s\t#%d\t%s\t%s\n", rc.CheckedAt.UTC().Format(time.RFC3339), rc.ItemID, rc.Result, rc.Detail)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	if draft != nil {
		fmt.Fprintf(w, "\ncurrent draft (revision %d, %s, items %s):\n", draft.Revision, draft.State, dash(draft.ItemIDs))
		if draft.Comment != "" {
			fmt.Fprintf(w, "comment: %s\n", draft.Comment)
		}
		fmt.Fprintf(w, "Subject: %s\n\n%s\n", draft.Subject, draft.BodyText)
	}
	if len(pending) > 0 {
		fmt.Fprintf(w, "\npending items (confirmed, in no notice yet):\n")
		for _, it := range pending {
			fmt.Fprintf(w, "  #%d  %s\n", it.ID, it.URL)
		}
	}
	return nil
}

func countAssigned(hits []storage.HitDetail) int {
	n := 0
	for _, h := range hits {
		if h.ItemID != 0 {
			n++
		}
	}
	return n
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// casesMetrics prints the takedown metrics (storage.CaseMetrics) per target
// and overall: for each stage the median and 90th percentile of the time
// from an item's first capture, with how many items reached it; exposure;
// items and notices. It reads the database only (no Temporal).
func casesMetrics(ctx context.Context, e *env, args []string) error {
	pos, err := e.parseFlags(flag.NewFlagSet("cases metrics", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return errors.New("usage: leakwatch cases metrics")
	}
	store, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	m, err := store.CaseMetrics(ctx, time.Now())
	if err != nil {
		return err
	}
	human := func(d time.Duration) string { // two largest units: "5h 48m"
		d = max(d, 0).Round(time.Second)
		units := []time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second}
		names := []string{"d", "h", "m", "s"}
		for i, u := range units {
			if d < u && u != time.Second {
				continue
			}
			s := fmt.Sprintf("%d%s", d/u, names[i])
			if i+1 < len(units) && (d%u)/units[i+1] > 0 {
				s += fmt.Sprintf(" %d%s", (d%u)/units[i+1], names[i+1])
			}
			return s
		}
		return "0s"
	}
	byState := func(keys []string, counts map[string]int) string {
		var parts []string
		for _, k := range keys {
			if counts[k] > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
			}
		}
		for k, n := range counts { // states this build does not list
			if n > 0 && !slices.Contains(keys, k) {
				parts = append(parts, fmt.Sprintf("%s %d", k, n))
			}
		}
		if len(parts) == 0 {
			return "—"
		}
		return strings.Join(parts, ", ")
	}
	noticeStates := []string{"draft", "changes-requested", "approved", "sending", "uncertain", "refused", "sent", "superseded"}
	caseStates := make([]string, 0, len(storage.CaseStates()))
	for _, st := range storage.CaseStates() {
		caseStates = append(caseStates, string(st))
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "TARGET\tCASES\tITEMS\tREMOVED\tEXPOSURE")
	for _, st := range storage.Stages() {
		fmt.Fprintf(tw, "\t%s", strings.ToUpper(string(st)))
	}
	fmt.Fprintln(tw, "\tNOTICES")
	rows := append(slices.Clone(m.Targets), m.Overall)
	for i, t := range rows {
		name := t.Target
		if i == len(rows)-1 {
			name = "(all)"
		}
		cases := map[string]int{}
		for st, n := range t.CasesByState {
			cases[string(st)] = n
		}
		notices := map[string]int{}
		for st, n := range t.NoticesByState {
			notices[string(st)] = n
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.1fh", name, byState(caseStates, cases), t.Items, t.Removed, t.ExposureHours)
		for _, st := range storage.Stages() {
			ss := t.Stages[st]
			if ss.Count == 0 {
				fmt.Fprint(tw, "\t—")
				continue
			}
			fmt.Fprintf(tw, "\t%s / %s (%d)", human(ss.Median), human(ss.P90), ss.Count)
		}
		fmt.Fprintf(tw, "\t%s\n", byState(noticeStates, notices))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintln(e.stdout, "\nstage cells: median / 90th percentile (items that reached it), timed from each item's first capture;"+
		" dismissed items left out. Exposure: hours confirmed and removed items were up, first capture to removal or now.")
	return err
}
