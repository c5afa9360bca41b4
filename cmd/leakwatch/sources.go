package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/leakwatch/leakwatch/crawlers/tgmonitor/tme"
	"github.com/leakwatch/leakwatch/internal/capture"
	"github.com/leakwatch/leakwatch/storage"
)

const sourcesUsage = "usage: leakwatch sources add NAME URL [--kind K] [options] | list | show NAME | edit NAME [options] | pause NAME | resume NAME | remove NAME"

// listFlag is a flag that may be repeated; an empty value clears the list.
type listFlag struct {
	vals []string
	set  bool
}

func (l *listFlag) String() string { return strings.Join(l.vals, ",") }

func (l *listFlag) Set(v string) error {
	if !l.set {
		l.vals, l.set = nil, true
	}
	if v != "" {
		l.vals = append(l.vals, v)
	}
	return nil
}

// sourceFlags are the settings `sources add` and `sources edit` take.
type sourceFlags struct {
	kind, proxy                 string
	every                       time.Duration
	content, links, next, files string
	allow, deny, watch          listFlag
	maxFileBytes                int64
	workers                     int
	rate                        float64
	fileTypes                   listFlag
	login                       storage.SourceLogin
	cookiesFile                 string
	fs                          *flag.FlagSet
}

func newSourceFlags(name string) *sourceFlags {
	f := &sourceFlags{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	kinds := make([]string, 0, 6)
	for _, k := range storage.SourceKinds() {
		kinds = append(kinds, string(k))
	}
	f.fs.StringVar(&f.kind, "kind", string(storage.SourceGeneric), "site layout: "+strings.Join(kinds, ", "))
	f.fs.DurationVar(&f.every, "every", 0, "crawl interval (0 = manual only; at least 1m)")
	f.fs.StringVar(&f.content, "content", "", "CSS selector of the posts' bodies (what is matched)")
	f.fs.StringVar(&f.links, "links", "", "CSS selector of links to follow")
	f.fs.StringVar(&f.next, "next", "", "CSS selector of pagination links")
	f.fs.StringVar(&f.files, "files", "", "CSS selector of attachment and download links")
	f.fs.Var(&f.allow, "allow", "URL regexp a link must match to be followed (repeatable; \"\" clears)")
	f.fs.Var(&f.deny, "deny", "URL regexp never followed (repeatable; \"\" clears)")
	f.fs.Var(&f.watch, "watch", "watch term: a word or /regexp/ that makes a page a keyword hit (repeatable; \"\" clears)")
	f.fs.Int64Var(&f.maxFileBytes, "max-file-bytes", 0, "largest download (0 = crawler.max_download_bytes)")
	f.fs.StringVar(&f.proxy, "proxy", "", "proxy for this source only, e.g. socks5h://127.0.0.1:9050")
	f.fs.IntVar(&f.workers, "workers", 0, "fetches at once on the source's host (0 = crawler.workers)")
	f.fs.Float64Var(&f.rate, "rate", 0, "requests per second to the host (0 = no cap)")
	f.fs.Var(&f.fileTypes, "file-type", "download only files of this type: pdf, zip, csv, jpg, … (repeatable; \"\" clears)")
	f.fs.StringVar(&f.login.URL, "login-url", "", "page with the site's login form (\"\" = no login)")
	f.fs.StringVar(&f.login.User, "login-user", "", "login user name")
	f.fs.StringVar(&f.login.UserField, "login-user-field", "", "the form's user field (default username)")
	f.fs.StringVar(&f.login.PassField, "login-pass-field", "", "the form's password field (default password)")
	f.fs.StringVar(&f.login.PasswordEnv, "login-password-env", "", "environment variable holding the password when a crawl runs")
	f.fs.StringVar(&f.login.PasswordFile, "login-password-file", "", "file holding the password (never stored in the database)")
	f.fs.StringVar(&f.cookiesFile, "cookies-file", "", "Netscape cookies.txt of a browser session")
	return f
}

// apply sets the flags given on the command line (all of them for a new
// source) on src, and checks the result.
func (f *sourceFlags) apply(src *storage.Source, all bool) error {
	given := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	if all || given["kind"] {
		src.Kind = storage.SourceKind(f.kind)
	}
	if all || given["every"] {
		src.EverySecs = int64(f.every / time.Second)
	}
	o := &src.Options
	set := func(name string, dst *string, v string) {
		if all || given[name] {
			*dst = v
		}
	}
	set("content", &o.Selectors.Content, f.content)
	set("links", &o.Selectors.Links, f.links)
	set("next", &o.Selectors.Next, f.next)
	set("files", &o.Selectors.Files, f.files)
	set("proxy", &o.Proxy, f.proxy)
	if f.allow.set {
		o.Allow = f.allow.vals
	}
	if f.deny.set {
		o.Deny = f.deny.vals
	}
	if f.watch.set {
		o.WatchTerms = f.watch.vals
	}
	if all || given["max-file-bytes"] {
		o.MaxFileBytes = f.maxFileBytes
	}
	if all || given["workers"] {
		o.Workers = f.workers
	}
	set("cookies-file", &o.CookiesFile, f.cookiesFile)
	if all || given["rate"] {
		o.Rate = f.rate
	}
	if f.fileTypes.set {
		o.FileTypes = f.fileTypes.vals
	}
	if all || given["login-url"] || given["login-user"] || given["login-user-field"] || given["login-pass-field"] ||
		given["login-password-env"] || given["login-password-file"] {
		l := storage.SourceLogin{}
		if o.Login != nil {
			l = *o.Login
		}
		set("login-url", &l.URL, f.login.URL)
		set("login-user", &l.User, f.login.User)
		set("login-user-field", &l.UserField, f.login.UserField)
		set("login-pass-field", &l.PassField, f.login.PassField)
		set("login-password-env", &l.PasswordEnv, f.login.PasswordEnv)
		set("login-password-file", &l.PasswordFile, f.login.PasswordFile)
		o.Login = nil
		if l.URL != "" {
			o.Login = &l
		}
	}
	return checkSource(*src)
}

// checkSource refuses settings a crawl could not use, with the reason.
func checkSource(src storage.Source) error {
	if !src.Kind.Valid() {
		return fmt.Errorf("--kind %q: want one of %v", src.Kind, storage.SourceKinds())
	}
	if src.Kind == storage.SourceTelegram {
		if _, err := tme.ParseChannel(src.URL); err != nil {
			return err
		}
	} else if u, err := url.Parse(src.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", src.URL)
	}
	if e := src.Every(); e != 0 && e < time.Minute {
		return fmt.Errorf("--every must be 0 or at least 1m (got %s)", e)
	}
	for _, re := range append(append([]string{}, src.Options.Allow...), src.Options.Deny...) {
		if _, err := regexp.Compile(re); err != nil {
			return fmt.Errorf("URL pattern %q: %w", re, err)
		}
	}
	if _, err := capture.CompileWatch(src.Options.WatchTerms); err != nil {
		return err
	}
	if l := src.Options.Login; l != nil {
		if lu, err := url.Parse(l.URL); err != nil || (lu.Scheme != "http" && lu.Scheme != "https") || lu.Host == "" {
			return fmt.Errorf("--login-url %q is not an absolute http(s) URL", l.URL)
		}
		if l.PasswordEnvIsOwn() {
			return fmt.Errorf("--login-password-env %s is one of leakwatch's own settings; use another variable", l.PasswordEnv)
		}
		if l.User == "" || (l.PasswordEnv == "") == (l.PasswordFile == "") {
			return errors.New("a login needs --login-user and exactly one of --login-password-env and --login-password-file")
		}
	}
	if src.Options.MaxFileBytes < 0 || src.Options.Workers < 0 || src.Options.Rate < 0 {
		return errors.New("--max-file-bytes, --workers and --rate must not be negative")
	}
	if p := src.Options.Proxy; p != "" {
		pu, err := url.Parse(p)
		if err != nil || pu.Host == "" || !strings.Contains(" socks5 socks5h http https ", " "+pu.Scheme+" ") {
			return errors.New("--proxy must be a socks5h://, socks5://, http:// or https:// URL")
		}
	}
	return nil
}

func runSources(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return errors.New(sourcesUsage)
	}
	verb, rest := args[0], args[1:]
	switch verb {
	case "add":
		f := newSourceFlags("sources add")
		pos, err := e.parseFlags(f.fs, rest)
		if err != nil {
			return err
		}
		if len(pos) != 2 {
			return errors.New(sourcesUsage)
		}
		src := storage.Source{Name: pos[0], URL: pos[1], Enabled: true}
		if u, err := url.Parse(pos[1]); err == nil {
			src.URL = u.String()
		}
		if err := f.apply(&src, true); err != nil {
			return fmt.Errorf("sources add: %w", err)
		}
		store, err := e.openStore(ctx)
		if err != nil {
			return err
		}
		if err := store.CreateSource(ctx, &src); err != nil {
			return fmt.Errorf("sources add: %w", err)
		}
		if err := store.Audit(ctx, cliActor(), "source.added", fmt.Sprintf("source:%d", src.ID), src.Name); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "added source %d %s\n", src.ID, src.Name)
		return nil
	case "list":
		if _, err := e.parseFlags(flag.NewFlagSet("sources list", flag.ContinueOnError), rest); err != nil {
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
			if !s.Enabled {
				every += " (paused)"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", s.ID, s.Name, s.Kind, every, s.URL)
		}
		return tw.Flush()
	case "show", "edit", "pause", "resume", "remove":
		var f *sourceFlags
		fs := flag.NewFlagSet("sources "+verb, flag.ContinueOnError)
		if verb == "edit" {
			f = newSourceFlags("sources edit")
			fs = f.fs
		}
		pos, err := e.parseFlags(fs, rest)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return errors.New(sourcesUsage)
		}
		store, err := e.openStore(ctx)
		if err != nil {
			return err
		}
		src, err := store.SourceByName(ctx, pos[0])
		if err != nil {
			return fmt.Errorf("sources %s: %w", verb, err)
		}
		return sourceVerb(ctx, e, store, verb, src, f)
	}
	return errors.New(sourcesUsage)
}

func sourceVerb(ctx context.Context, e *env, store *storage.Store, verb string, src storage.Source, f *sourceFlags) error {
	object := fmt.Sprintf("source:%d", src.ID)
	switch verb {
	case "show":
		showSource(e, src)
		return nil
	case "remove":
		if err := store.DeleteSource(ctx, src.ID); err != nil {
			return fmt.Errorf("sources remove: %w", err)
		}
		if err := store.Audit(ctx, cliActor(), "source.removed", object, src.Name); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "removed source %s (its runs, captures and hits are kept as evidence)\n", src.Name)
		return nil
	case "pause", "resume":
		src.Enabled = verb == "resume"
	case "edit":
		if err := f.apply(&src, false); err != nil {
			return fmt.Errorf("sources edit: %w", err)
		}
	}
	if err := store.UpdateSource(ctx, &src); err != nil {
		return fmt.Errorf("sources %s: %w", verb, err)
	}
	done := map[string]string{"pause": "paused", "resume": "resumed", "edit": "edited"}[verb]
	if err := store.Audit(ctx, cliActor(), "source."+done, object, src.Name); err != nil {
		return err
	}
	// A running `up` picks the change up within 15 s (schedules follow sources).
	fmt.Fprintf(e.stdout, "%s source %s\n", done, src.Name)
	return nil
}

func showSource(e *env, s storage.Source) {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	every := "manual"
	if s.EverySecs > 0 {
		every = s.Every().String()
	}
	o := s.Options
	orDefault := func(v string) string {
		if v == "" {
			return "(kind's default)"
		}
		return v
	}
	rows := [][2]string{
		{"id", fmt.Sprint(s.ID)}, {"name", s.Name}, {"kind", string(s.Kind)}, {"url", s.URL},
		{"every", every}, {"enabled", fmt.Sprint(s.Enabled)},
		{"content selector", orDefault(o.Selectors.Content)}, {"links selector", orDefault(o.Selectors.Links)},
		{"next selector", orDefault(o.Selectors.Next)}, {"files selector", orDefault(o.Selectors.Files)},
		{"allow", strings.Join(o.Allow, "  ")}, {"deny", strings.Join(o.Deny, "  ")},
		{"watch terms", strings.Join(o.WatchTerms, "  ")}, {"max file bytes", fmt.Sprint(o.MaxFileBytes)},
		{"proxy", o.Proxy}, {"workers", fmt.Sprint(o.Workers)}, {"cookies file", o.CookiesFile},
		{"rate", fmt.Sprintf("%g/s", o.Rate)}, {"file types", strings.Join(o.FileTypes, " ")},
	}
	if l := o.Login; l != nil {
		pw := "$" + l.PasswordEnv
		if l.PasswordFile != "" {
			pw = l.PasswordFile
		}
		rows = append(rows, [2]string{"login", fmt.Sprintf("%s as %s (password from %s)", l.URL, l.User, pw)})
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", r[0], r[1])
	}
	tw.Flush()
}
