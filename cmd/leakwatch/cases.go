package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/leakwatch/leakwatch/storage"
	"github.com/leakwatch/leakwatch/workflows"
)

func runCases(ctx context.Context, e *env, args []string) error {
	const use = "usage: leakwatch cases list | cases show CASE | cases approve CASE --as USER [--revision N]"
	if len(args) == 0 {
		return errors.New(use)
	}
	switch args[0] {
	case "list":
		if _, err := e.parseFlags(flag.NewFlagSet("cases list", flag.ContinueOnError), args[1:]); err != nil {
			return err
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
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", c.ID, c.Target, c.State, c.Recipient, c.UpdatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	case "show":
		pos, err := e.parseFlags(flag.NewFlagSet("cases show", flag.ContinueOnError), args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return errors.New(use)
		}
		store, err := e.openStore(ctx)
		if err != nil {
			return err
		}
		return showCase(ctx, e, store, pos[0])
	case "approve":
		fset := flag.NewFlagSet("cases approve", flag.ContinueOnError)
		as := fset.String("as", "", "username of the approving lawyer (role legal or admin)")
		rev := fset.Int("revision", 0, "notice revision to approve (default: the current draft)")
		pos, err := e.parseFlags(fset, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 || *as == "" {
			return errors.New(use)
		}
		if _, err := e.loadConfig(false); err != nil {
			return err
		}
		store, err := e.openStore(ctx)
		if err != nil {
			return err
		}
		cs, err := store.CaseByRef(ctx, pos[0])
		if err != nil {
			return err
		}
		u, err := store.UserByUsername(ctx, *as)
		if err != nil {
			return err
		}
		if u.Disabled {
			return fmt.Errorf("user %s is disabled", u.Username)
		}
		c, err := dialTemporal(ctx, e, "")
		if err != nil {
			return err
		}
		defer c.Close()
		// Audited like the web's approvals: the request, then its outcome.
		obj, actor := fmt.Sprintf("case:%d", cs.ID), cliActor()
		if err := store.Audit(ctx, actor, "notice.approve.request", obj, fmt.Sprintf("as %s, revision %d", u.Username, *rev)); err != nil {
			return err
		}
		svc := &workflows.Cases{Client: c, Store: store}
		if err := svc.Approve(ctx, cs.ID, *rev, u); err != nil {
			if aerr := store.Audit(ctx, actor, "notice.approve.rejected", obj, "as "+u.Username); aerr != nil {
				return errors.Join(err, aerr)
			}
			return err
		}
		if err := store.Audit(ctx, actor, "notice.approve", obj, "as "+u.Username); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "case %d: notice approved by %s; it will be sent now\n", cs.ID, u.Username)
		return nil
	}
	return errors.New(use)
}

func showCase(ctx context.Context, e *env, store *storage.Store, ref string) error {
	c, err := store.CaseByRef(ctx, ref)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "case %d  target %s  state %s  recipient %s\nworkflow %s  opened %s\n",
		c.ID, c.Target, c.State, c.Recipient, c.WorkflowID, c.OpenedAt.Format(time.RFC3339))
	hits, err := store.HitsForTarget(ctx, c.Target)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nhits (%d):\n", len(hits))
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HIT\tCAPTURED\tMETHOD\tSCORE\tREF\tSHA-256\tURL")
	for _, h := range hits {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%.2f\t%s\t%s\t%s\n", h.ID, h.FetchedAt.Format(time.RFC3339), h.Method, h.Score, h.RefOpaqueID, h.CaptureSHA256, h.URL)
	}
	tw.Flush()
	ns, err := store.NoticesForCase(ctx, c.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nnotices (%d):\n", len(ns))
	for _, n := range ns {
		fmt.Fprintf(e.stdout, "  revision %d  %s  to %s  approved by %q  attempts %d", n.Revision, n.State, n.Recipient, n.ApprovedBy, n.Attempts)
		if n.SentAt != nil {
			fmt.Fprintf(e.stdout, "  sent %s", n.SentAt.Format(time.RFC3339))
		}
		if n.LastError != "" {
			fmt.Fprintf(e.stdout, "  last error: %s", n.LastError)
		}
		fmt.Fprintln(e.stdout)
	}
	if len(ns) > 0 {
		fmt.Fprintf(e.stdout, "\ncurrent notice (revision %d):\nSubject: %s\n\n%s\n", ns[0].Revision, ns[0].Subject, ns[0].BodyText)
	}
	return nil
}
