package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/crawlers/tgmonitor"
	"github.com/leakwatch/leakwatch/crawlers/tgmonitor/tme"
	"github.com/leakwatch/leakwatch/storage"
)

const telegramUsage = "usage: leakwatch telegram login [--account NAME] [--code-file F | --code-env VAR] [--password-file F | --password-env VAR]" +
	" | telegram status | telegram watch add NAME LINK [options] | watch list | watch pause|resume|remove NAME"

// telegramMonitor builds the Telegram monitor from the configuration, or
// returns nil when Telegram is not configured (no api_id).
func (e *env) telegramMonitor(ctx context.Context, store *storage.Store) (*tgmonitor.Monitor, error) {
	tc := e.cfg.Telegram
	if tc.APIID == 0 {
		return nil, nil
	}
	hash := tc.APIHash
	if tc.APIHashFile != "" {
		b, err := os.ReadFile(tc.APIHashFile)
		if err != nil {
			return nil, fmt.Errorf("telegram.api_hash_file: %w", err)
		}
		hash = strings.TrimSpace(string(b))
	}
	key, err := e.fingerprintKey()
	if err != nil {
		return nil, fmt.Errorf("telegram sessions are sealed with the fingerprint key: %w", err)
	}
	if err := e.ensureTelegramAccounts(ctx, store); err != nil {
		return nil, err
	}
	o := tgmonitor.Options{AppID: tc.APIID, AppHash: hash, Network: e.tgNetwork, Store: store,
		Sealer: tgmonitor.NewSealer(key), MaxFloodWait: tc.MaxFloodWait, Rate: tc.Rate, Logger: e.log}
	if m := e.obs.metrics(); m != nil {
		o.Metrics = m
	}
	return tgmonitor.New(o)
}

// ensureTelegramAccounts gives every configured account its row.
func (e *env) ensureTelegramAccounts(ctx context.Context, store *storage.Store) error {
	for _, a := range e.cfg.Telegram.Accounts {
		if err := store.EnsureTelegramAccount(ctx, a.Name, a.Phone); err != nil {
			return err
		}
	}
	return nil
}

func runTelegram(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return errors.New(telegramUsage)
	}
	if _, err := e.loadConfig(false); err != nil {
		return err
	}
	store, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	// The configured accounts show in status before their first login.
	if err := e.ensureTelegramAccounts(ctx, store); err != nil {
		return err
	}
	switch args[0] {
	case "login":
		return telegramLogin(ctx, e, store, args[1:])
	case "status":
		if _, err := e.parseFlags(flag.NewFlagSet("telegram status", flag.ContinueOnError), args[1:]); err != nil {
			return err
		}
		return telegramStatus(ctx, e, store)
	case "watch":
		if len(args) < 2 {
			return errors.New(telegramUsage)
		}
		return telegramWatch(ctx, e, store, args[1], args[2:])
	}
	return errors.New(telegramUsage)
}

func telegramLogin(ctx context.Context, e *env, store *storage.Store, args []string) error {
	fs := flag.NewFlagSet("telegram login", flag.ContinueOnError)
	account := fs.String("account", "", "account name from telegram.accounts (default: the first)")
	codeFile := fs.String("code-file", "", "read the login code from this file once it appears (automation)")
	codeEnv := fs.String("code-env", "", "read the login code from this environment variable")
	pwFile := fs.String("password-file", "", "read the 2FA password from this file")
	pwEnv := fs.String("password-env", "", "read the 2FA password from this environment variable")
	if _, err := e.parseFlags(fs, args); err != nil {
		return err
	}
	tc := e.cfg.Telegram
	if len(tc.Accounts) == 0 {
		return errors.New("telegram login: no accounts under telegram.accounts in the config")
	}
	acct := tc.Accounts[0]
	if *account != "" {
		i := slices.IndexFunc(tc.Accounts, func(a config.TelegramAccountConfig) bool { return a.Name == *account })
		if i < 0 {
			return fmt.Errorf("telegram login: no account %q under telegram.accounts", *account)
		}
		acct = tc.Accounts[i]
	}
	m, err := e.telegramMonitor(ctx, store)
	if err != nil {
		return err
	}
	if m == nil {
		return errors.New("telegram login: telegram.api_id and api_hash are not configured (from my.telegram.org)")
	}
	in := bufio.NewReader(e.stdin)
	a := tgmonitor.Authenticator{Phone: acct.Phone}
	switch {
	case *codeEnv != "":
		a.Code = func(context.Context) (string, error) {
			if v := strings.TrimSpace(os.Getenv(*codeEnv)); v != "" {
				return v, nil
			}
			return "", fmt.Errorf("environment variable %s is empty", *codeEnv)
		}
	case *codeFile != "":
		a.Code = func(ctx context.Context) (string, error) { return waitForFile(ctx, *codeFile) }
	default:
		a.Code = func(context.Context) (string, error) {
			fmt.Fprintf(e.stdout, "code Telegram sent to %s: ", acct.Phone)
			return readLine(in)
		}
	}
	switch {
	case *pwEnv != "":
		a.Password = func(context.Context) (string, error) {
			if v := os.Getenv(*pwEnv); v != "" {
				return v, nil
			}
			return "", fmt.Errorf("environment variable %s is empty", *pwEnv)
		}
	case *pwFile != "":
		a.Password = func(context.Context) (string, error) {
			b, err := os.ReadFile(*pwFile)
			return strings.TrimRight(string(b), "\r\n"), err
		}
	default:
		a.Password = func(context.Context) (string, error) {
			fmt.Fprint(e.stdout, "2FA password: ")
			if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				b, err := term.ReadPassword(int(f.Fd()))
				fmt.Fprintln(e.stdout)
				return string(b), err
			}
			return readLine(in)
		}
	}
	if err := m.Login(ctx, acct.Name, a); err != nil {
		return err
	}
	if err := store.Audit(ctx, cliActor(), "telegram.login", "telegram:"+acct.Name, ""); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "logged in telegram account %s\n", acct.Name)
	return nil
}

func readLine(r *bufio.Reader) (string, error) {
	s, err := r.ReadString('\n')
	if err != nil && (err != io.EOF || s == "") {
		return "", fmt.Errorf("read from stdin: %w", err)
	}
	return strings.TrimSpace(s), nil
}

// waitForFile waits up to five minutes for path to hold a line (automation
// writes the code there once Telegram sends it), and removes it.
func waitForFile(ctx context.Context, path string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) != "" {
			_ = os.Remove(path) // a code is used once
			return strings.TrimSpace(string(b)), nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no login code in %s: %w", path, ctx.Err())
		case <-t.C:
		}
	}
}

func telegramStatus(ctx context.Context, e *env, store *storage.Store) error {
	accts, err := store.TelegramAccounts(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tPHONE\tSTATUS\tDETAIL")
	for _, a := range accts {
		st := string(a.Status)
		if a.Status == storage.TelegramFloodWait && a.FloodUntil != nil {
			st += " until " + a.FloodUntil.UTC().Format(time.RFC3339)
		}
		if a.Status == storage.TelegramDead {
			st = "DEAD (log in again)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Name, maskPhone(a.Phone), st, a.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	srcs, err := store.ListSources(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout)
	tw = tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WATCH\tCHANNEL\tSTATE\tMESSAGES\tNEWEST\tHISTORY\tLAST RUN")
	for _, s := range srcs {
		if s.Kind != storage.SourceTelegram {
			continue
		}
		ch, ok, err := store.TelegramChannel(ctx, s.ID)
		if err != nil {
			return err
		}
		state, channel, history := "active", s.URL, "not started"
		if !s.Enabled {
			state = "paused"
		}
		if ok {
			channel = fmt.Sprintf("%s (%d)", tme.Target(ch.Username, ch.ChannelID), ch.ChannelID)
			history = fmt.Sprintf("%d read, below #%d", ch.Backfilled, ch.BackfillNext)
			if ch.BackfillDone {
				history = fmt.Sprintf("%d read, done", ch.Backfilled)
			}
			if ch.Gone != "" {
				state = "GONE: " + ch.Gone
			}
		}
		last := "never"
		if runs, err := store.RecentRuns(ctx, s.ID, 1); err == nil && len(runs) > 0 {
			r := runs[0]
			last = fmt.Sprintf("%s %s", r.StartedAt.UTC().Format(time.RFC3339), r.Status)
			if r.Error != "" {
				last += ": " + r.Error
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t#%d\t%s\t%s\n", s.Name, channel, state, ch.Messages, ch.TopID, history, last)
	}
	return tw.Flush()
}

// maskPhone shows a phone number's last digits only: the status is read
// by analysts who need to tell accounts apart, not to call them.
func maskPhone(p string) string {
	if len(p) <= 4 {
		return p
	}
	return strings.Repeat("•", len(p)-4) + p[len(p)-4:]
}

func telegramWatch(ctx context.Context, e *env, store *storage.Store, verb string, args []string) error {
	switch verb {
	case "add":
		fs := flag.NewFlagSet("telegram watch add", flag.ContinueOnError)
		account := fs.String("account", "", "account that reads the channel (default: the first)")
		join := fs.Bool("join", false, "may join the channel (invite links, member-only history)")
		backfill := fs.Int("backfill", 0, "messages of history to read (default 1000)")
		since := fs.String("since", "", "read no history older than this date (YYYY-MM-DD)")
		every := fs.Duration("every", 15*time.Minute, "how often new posts and history are read (0: manual only; at least 1m)")
		maxFile := fs.Int64("max-file-bytes", 0, "largest file downloaded (0: crawler.max_download_bytes)")
		var media, watch listFlag
		fs.Var(&media, "media", "media downloaded: document, photo (repeatable; default both)")
		fs.Var(&watch, "watch", "watch term: a word or /regexp/ that makes a message a keyword hit (repeatable)")
		pos, err := e.parseFlags(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 2 {
			return errors.New("usage: leakwatch telegram watch add NAME LINK [--account A] [--join] [--backfill N] [--since DATE] [--media document|photo] [--watch TERM] [--every D]")
		}
		ref, err := tme.ParseChannel(pos[1])
		if err != nil {
			return err
		}
		to := &storage.TelegramOptions{Account: *account, Join: *join, BackfillCount: *backfill, Media: media.vals}
		if *since != "" {
			t, err := time.Parse(time.DateOnly, *since)
			if err != nil {
				return fmt.Errorf("--since %q: want YYYY-MM-DD", *since)
			}
			to.BackfillSince = &t
		}
		for _, m := range to.Media {
			if m != "document" && m != "photo" {
				return fmt.Errorf("--media %q: want document or photo", m)
			}
		}
		if *backfill < 0 || *maxFile < 0 {
			return errors.New("--backfill and --max-file-bytes must not be negative")
		}
		if *account != "" && !slices.ContainsFunc(e.cfg.Telegram.Accounts, func(a config.TelegramAccountConfig) bool { return a.Name == *account }) {
			return fmt.Errorf("--account %q is not under telegram.accounts", *account)
		}
		src := storage.Source{Name: pos[0], Kind: storage.SourceTelegram, URL: ref.String(), EverySecs: int64(*every / time.Second),
			Enabled: true, Options: storage.SourceOptions{MaxFileBytes: *maxFile, WatchTerms: watch.vals, Telegram: to}}
		if err := checkSource(src); err != nil {
			return fmt.Errorf("telegram watch add: %w", err)
		}
		if err := store.CreateSource(ctx, &src); err != nil {
			return fmt.Errorf("telegram watch add: %w", err)
		}
		if err := store.Audit(ctx, cliActor(), "source.added", fmt.Sprintf("source:%d", src.ID), src.Name); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "watching %s as source %d %s\n", ref, src.ID, src.Name)
		return nil
	case "list":
		if _, err := e.parseFlags(flag.NewFlagSet("telegram watch list", flag.ContinueOnError), args); err != nil {
			return err
		}
		srcs, err := store.ListSources(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tCHANNEL\tACCOUNT\tEVERY\tBACKFILL\tMEDIA\tJOIN")
		for _, s := range srcs {
			if s.Kind != storage.SourceTelegram {
				continue
			}
			to := storage.TelegramOptions{}
			if s.Options.Telegram != nil {
				to = *s.Options.Telegram
			}
			every := "manual"
			if s.EverySecs > 0 {
				every = s.Every().String()
			}
			if !s.Enabled {
				every += " (paused)"
			}
			back := fmt.Sprint(max(to.BackfillCount, 0))
			if to.BackfillCount == 0 {
				back = fmt.Sprint(tgmonitor.DefaultBackfill)
			}
			if to.BackfillSince != nil {
				back += " since " + to.BackfillSince.Format(time.DateOnly)
			}
			media := "document,photo"
			if len(to.Media) > 0 {
				media = strings.Join(to.Media, ",")
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%v\n", s.ID, s.Name, s.URL, cmp.Or(to.Account, "(first)"), every, back, media, to.Join)
		}
		return tw.Flush()
	case "pause", "resume", "remove":
		pos, err := e.parseFlags(flag.NewFlagSet("telegram watch "+verb, flag.ContinueOnError), args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return fmt.Errorf("usage: leakwatch telegram watch %s NAME", verb)
		}
		src, err := store.SourceByName(ctx, pos[0])
		if err != nil {
			return fmt.Errorf("telegram watch %s: %w", verb, err)
		}
		if src.Kind != storage.SourceTelegram {
			return fmt.Errorf("telegram watch %s: %s is a %s source, not a Telegram channel (see leakwatch sources)", verb, src.Name, src.Kind)
		}
		return sourceVerb(ctx, e, store, verb, src, nil)
	}
	return errors.New(telegramUsage)
}
