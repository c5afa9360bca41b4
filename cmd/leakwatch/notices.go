package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/internal/notices"
	"github.com/leakwatch/leakwatch/storage"
)

const noticesUse = "usage: leakwatch notices export --lumen [--out FILE]"

func runNotices(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "export" {
		return errors.New(noticesUse)
	}
	fset := flag.NewFlagSet("notices export", flag.ContinueOnError)
	lumen := fset.Bool("lumen", false, "write Lumen-shaped JSON (lumendatabase.org; the only format)")
	out := fset.String("out", "", "file to write (default: standard output)")
	pos, err := e.parseFlags(fset, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 0 || !*lumen {
		return errors.New(noticesUse)
	}
	cfg, err := e.loadConfig(false)
	if err != nil {
		return err
	}
	store, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	ns, err := lumenNotices(ctx, store, cfg.Injunction)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := notices.WriteLumen(&buf, ns); err != nil {
		return err
	}
	dest := "standard output"
	if *out == "" {
		if _, err := e.stdout.Write(buf.Bytes()); err != nil {
			return fmt.Errorf("notices export: %w", err)
		}
	} else {
		dest = *out
		if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("notices export: %w", err)
		}
	}
	if err := store.Audit(ctx, cliActor(), "notices.export.lumen", "notices", fmt.Sprintf("%d sent notices to %s", len(ns), dest)); err != nil {
		return err
	}
	if *out != "" {
		fmt.Fprintf(e.stdout, "wrote %d sent notice(s) to %s (URLs redacted)\n", len(ns), *out)
	}
	return nil
}

// lumenNotices describes every sent notice, oldest first, for a Lumen
// export: the schedule of URLs it listed (redacted by the notices
// package) and, from the re-checks, what the recipient did.
func lumenNotices(ctx context.Context, store *storage.Store, inj config.InjunctionConfig) ([]notices.LumenNotice, error) {
	cases, err := store.ListCases(ctx)
	if err != nil {
		return nil, err
	}
	type sent struct {
		at time.Time
		n  notices.LumenNotice
	}
	var all []sent
	for _, c := range cases {
		ns, err := store.NoticesForCase(ctx, c.ID)
		if err != nil {
			return nil, err
		}
		for _, n := range ns {
			if n.State != storage.NoticeSent || n.SentAt == nil {
				continue
			}
			items, err := store.CaseItemsByIDs(ctx, storage.SplitIDs(n.ItemIDs))
			if err != nil {
				return nil, err
			}
			d := notices.Data{RecipientType: notices.RecipientType(n.RecipientType), Number: n.Number, Reference: n.Reference,
				Injunction: inj, Target: c.Target, Recipient: n.Recipient, DraftedAt: n.DraftedAt}
			switch n.Kind {
			case storage.NoticeFollowUp:
				d.Kind = notices.KindFollowUp
			case storage.NoticeEscalation:
				d.Kind = notices.KindEscalation
			case storage.NoticeReappearance:
				d.Kind = notices.KindReappearance
			default:
				d.Kind = notices.KindNotice
			}
			for _, it := range items {
				d.Items = append(d.Items, notices.Item{URL: it.URL, CapturedAt: it.CapturedAt, SHA256: it.SHA256, Size: it.Size})
			}
			ln := notices.NewLumenNotice(d, *n.SentAt)
			ln.ActionTaken = actionTaken(items)
			all = append(all, sent{at: *n.SentAt, n: ln})
		}
	}
	slices.SortStableFunc(all, func(a, b sent) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.n.Reference, b.n.Reference))
	})
	out := make([]notices.LumenNotice, 0, len(all))
	for _, s := range all {
		out = append(out, s.n)
	}
	return out, nil
}

// actionTaken is Lumen's action_taken from what re-checks found of the
// notice's items: all removed "Yes", some "Partial", otherwise not known
// (""): an item still up may be pending, not refused.
func actionTaken(items []storage.CaseItem) string {
	removed := 0
	for _, it := range items {
		if it.State == storage.ItemRemoved {
			removed++
		}
	}
	switch {
	case len(items) == 0 || removed == 0:
		return ""
	case removed == len(items):
		return "Yes"
	}
	return "Partial"
}
