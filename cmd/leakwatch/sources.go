package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

func runSources(ctx context.Context, e *env, args []string) error {
	const use = "usage: leakwatch sources add NAME URL [--every 6h] | sources list"
	if len(args) == 0 {
		return errors.New(use)
	}
	switch args[0] {
	case "add":
		fset := flag.NewFlagSet("sources add", flag.ContinueOnError)
		every := fset.Duration("every", 0, "crawl interval (0 = manual only; at least 1m)")
		pos, err := e.parseFlags(fset, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 2 {
			return errors.New(use)
		}
		u, err := url.Parse(pos[1])
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("sources add: %q is not an absolute http(s) URL", pos[1])
		}
		if *every != 0 && *every < time.Minute {
			return fmt.Errorf("sources add: --every must be 0 or at least 1m (got %s)", *every)
		}
		store, err := e.openStore(ctx)
		if err != nil {
			return err
		}
		src := storage.Source{Name: pos[0], Kind: storage.SourceWeb, URL: u.String(), EverySecs: int64(*every / time.Second), Enabled: true}
		if err := store.CreateSource(ctx, &src); err != nil {
			return fmt.Errorf("sources add: %w", err)
		}
		if err := store.Audit(ctx, cliActor(), "source.added", fmt.Sprintf("source:%d", src.ID), src.Name); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "added source %d %s\n", src.ID, src.Name)
		return nil
	case "list":
		if _, err := e.parseFlags(flag.NewFlagSet("sources list", flag.ContinueOnError), args[1:]); err != nil {
			return err
		}
		store, err := e.openStore(ctx)
		if err != nil {
			return err
		}
		srcs, err := store.ListSources(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tKIND\tEVERY\tURL")
		for _, s := range srcs {
			every := "manual"
			if s.EverySecs > 0 {
				every = s.Every().String()
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", s.ID, s.Name, s.Kind, every, s.URL)
		}
		return tw.Flush()
	}
	return errors.New(use)
}
