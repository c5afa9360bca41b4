package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/leakwatch/leakwatch/internal/web"
)

// runTokens manages API tokens for automation: each acts as one user, with
// that user's role. Creating one is the explicit, audited control that
// stands in for the user's login (and MFA).
func runTokens(ctx context.Context, e *env, args []string) error {
	const use = "usage: leakwatch tokens create --user NAME --name LABEL [--expires 90d] | tokens list | tokens revoke ID"
	if len(args) == 0 {
		return errors.New(use)
	}
	switch args[0] {
	case "create":
		fset := flag.NewFlagSet("tokens create", flag.ContinueOnError)
		username := fset.String("user", "", "the user the token acts as (required)")
		name := fset.String("name", "", "what the token is for, e.g. \"SIEM export\" (required)")
		expires := fset.String("expires", "", "lifetime, e.g. 90d or 12h (default: never)")
		pos, err := e.parseFlags(fset, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 0 || *username == "" || *name == "" {
			return errors.New(use)
		}
		exp, err := web.ParseTokenExpiry(*expires)
		if err != nil {
			return fmt.Errorf("tokens create: %w", err)
		}
		store, err := e.openStore(ctx)
		if err != nil {
			return err
		}
		tok, info, err := web.IssueAPIToken(ctx, store, cliActor(), *username, *name, exp, time.Now())
		if err != nil {
			return fmt.Errorf("tokens create: %w", err)
		}
		fmt.Fprintf(e.stdout, "created token %d %q acting as %s; it is shown only now:\n%s\n", info.ID, info.Name,
			info.Username, tok)
		return nil
	case "list":
		if _, err := e.parseFlags(flag.NewFlagSet("tokens list", flag.ContinueOnError), args[1:]); err != nil {
			return err
		}
		store, err := e.openStore(ctx)
		if err != nil {
			return err
		}
		ts, err := store.ListAPITokens(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tUSER\tCREATED BY\tCREATED\tLAST USED\tEXPIRES\tREVOKED")
		for _, t := range ts {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Username, t.CreatedBy,
				cliTime(&t.CreatedAt), cliTime(t.LastUsedAt), cliTime(t.ExpiresAt), cliTime(t.RevokedAt))
		}
		return tw.Flush()
	case "revoke":
		pos, err := e.parseFlags(flag.NewFlagSet("tokens revoke", flag.ContinueOnError), args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return errors.New(use)
		}
		id, err := strconv.ParseUint(pos[0], 10, 64)
		if err != nil || id == 0 {
			return fmt.Errorf("tokens revoke: %q is not a token id (see tokens list)", pos[0])
		}
		store, err := e.openStore(ctx)
		if err != nil {
			return err
		}
		if err := web.RevokeAPIToken(ctx, store, cliActor(), id, time.Now()); err != nil {
			return fmt.Errorf("tokens revoke: %w", err)
		}
		fmt.Fprintf(e.stdout, "revoked token %d\n", id)
		return nil
	}
	return errors.New(use)
}

// cliTime shows an optional time in lists; "-" when unset.
func cliTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
