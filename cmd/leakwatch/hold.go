package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

const holdUsage = "usage: leakwatch hold add case CASE|source NAME|run RUN --as USER --reason R | hold remove ID --as USER --reason R | hold list [--all]"

// runHold sets, lifts and lists legal holds: evidence of a held case,
// source or run is never removed by retention. Setting and lifting need
// the legal or admin role and are audited.
func runHold(ctx context.Context, e *env, args []string) error {
	fset := flag.NewFlagSet("hold", flag.ContinueOnError)
	as := fset.String("as", "", "username acting (role legal or admin)")
	reason := fset.String("reason", "", "why (a matter, a request: no personal data)")
	all := fset.Bool("all", false, "list lifted holds too")
	pos, err := e.parseFlags(fset, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return errors.New(holdUsage)
	}
	verb := pos[0]
	switch {
	case verb == "list" && len(pos) == 1:
	case verb == "add" && len(pos) == 3, verb == "remove" && len(pos) == 2:
		if *as == "" || strings.TrimSpace(*reason) == "" {
			return fmt.Errorf("hold %s needs --as USER and --reason R", verb)
		}
	default:
		return errors.New(holdUsage)
	}
	if _, err := e.loadConfig(false); err != nil {
		return err
	}
	store, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	if verb == "list" {
		return listHolds(ctx, e, store, *all)
	}
	u, err := store.UserByUsername(ctx, *as)
	if err != nil {
		return err
	}
	actor, r := cliActor(), strings.TrimSpace(*reason)
	switch verb {
	case "add":
		h := storage.LegalHold{Scope: storage.HoldScope(pos[1]), Reason: r, SetBy: u.Username}
		if h.ObjectID, err = holdObject(ctx, store, h.Scope, pos[2]); err != nil {
			return err
		}
		if err := holdAllowed(ctx, store, actor, "hold.add", h.Object(), u); err != nil {
			return err
		}
		if err := store.AddHold(ctx, &h); err != nil {
			return err
		}
		if err := store.Audit(ctx, actor, "hold.add", h.Object(), fmt.Sprintf("hold %d as %s, reason %q", h.ID, u.Username, r)); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "hold %d on %s set by %s: its evidence is kept until the hold is lifted\n", h.ID, h.Object(), u.Username)
	case "remove":
		id, err := strconv.ParseUint(strings.TrimPrefix(pos[1], "#"), 10, 64)
		if err != nil || id == 0 {
			return fmt.Errorf("hold remove: %q is not a hold id (see leakwatch hold list)", pos[1])
		}
		if err := holdAllowed(ctx, store, actor, "hold.remove", fmt.Sprintf("hold:%d", id), u); err != nil {
			return err
		}
		h, err := store.LiftHold(ctx, id, u.Username, r, time.Now())
		if err != nil {
			return err
		}
		if err := store.Audit(ctx, actor, "hold.remove", h.Object(), fmt.Sprintf("hold %d as %s, reason %q", h.ID, u.Username, r)); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "hold %d on %s lifted by %s: retention applies to it again\n", h.ID, h.Object(), u.Username)
	}
	return nil
}

// holdAllowed refuses (and audits the refusal) a user who is neither
// legal nor admin, or disabled.
func holdAllowed(ctx context.Context, store *storage.Store, actor, action, object string, u storage.User) error {
	if u.Disabled {
		return fmt.Errorf("user %s is disabled", u.Username)
	}
	if u.Role.CanApproveNotices() {
		return nil
	}
	if err := store.Audit(ctx, actor, action+".denied", object, "as "+u.Username+", role "+string(u.Role)); err != nil {
		return err
	}
	return fmt.Errorf("%s has the %s role; legal holds need legal or admin", u.Username, u.Role)
}

// holdObject resolves what a hold covers: a case (id or target), a source
// (name) or a run (id).
func holdObject(ctx context.Context, store *storage.Store, scope storage.HoldScope, ref string) (uint64, error) {
	switch scope {
	case storage.HoldCase:
		cs, err := store.CaseByRef(ctx, ref)
		if err != nil {
			return 0, err
		}
		return cs.ID, nil
	case storage.HoldSource:
		src, err := store.SourceByName(ctx, ref)
		if err != nil {
			return 0, err
		}
		return src.ID, nil
	case storage.HoldRun:
		id, err := strconv.ParseUint(strings.TrimPrefix(ref, "run-"), 10, 64)
		if err != nil || id == 0 {
			return 0, fmt.Errorf("hold add run: %q is not a run number", ref)
		}
		run, err := store.RunByID(ctx, id)
		if err != nil {
			return 0, err
		}
		return run.ID, nil
	}
	return 0, fmt.Errorf("hold add: %q is not case, source or run", scope)
}

func listHolds(ctx context.Context, e *env, store *storage.Store, all bool) error {
	hs, err := store.LegalHolds(ctx, all)
	if err != nil {
		return err
	}
	if len(hs) == 0 {
		fmt.Fprintln(e.stdout, "no legal holds")
		return nil
	}
	for _, h := range hs {
		state := "active"
		if !h.Active() {
			state = fmt.Sprintf("lifted %s by %s (%s)", h.LiftedAt.UTC().Format("2006-01-02"), h.LiftedBy, h.LiftReason)
		}
		fmt.Fprintf(e.stdout, "%d\t%s\tset %s by %s\t%s\t%s\n", h.ID, h.Object(), h.SetAt.UTC().Format("2006-01-02"), h.SetBy, h.Reason, state)
	}
	return nil
}
