package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
)

// stepTimeout bounds one browser step (a click and the page it loads).
const stepTimeout = 30 * time.Second

// chromiumPath finds a Chromium binary: LEAKWATCH_CHROMIUM, else the usual
// names on PATH. Without one the test skips, unless LEAKWATCH_REQUIRE_BROWSER
// is set (CI sets it, so CI never passes by skipping).
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("LEAKWATCH_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("LEAKWATCH_REQUIRE_BROWSER") != "" {
		t.Fatal("no Chromium binary found and LEAKWATCH_REQUIRE_BROWSER is set: install Debian's chromium (apt-get install chromium) or set LEAKWATCH_CHROMIUM")
	}
	t.Skip("browser test skipped: no Chromium binary found (apt-get install chromium, or set LEAKWATCH_CHROMIUM); set LEAKWATCH_REQUIRE_BROWSER=1 to make this a failure")
	return ""
}

// screenshotDir is where screenshots go: LEAKWATCH_SCREENSHOTS, else a
// temporary directory.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("LEAKWATCH_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// problem is something the page reported that a clean page never does: an
// uncaught exception, a console error, or a browser log error such as a CSP
// violation or a failed load.
type problem struct {
	kind, text, url string
}

func (p problem) String() string { return p.kind + ": " + p.text + " (" + p.url + ")" }

// browser is one headless Chromium with one tab, driven through leakwatch's
// web UI as a person would.
type browser struct {
	t        *testing.T
	h        *harness
	ctx      context.Context // the tab
	width    int64
	height   int64
	label    string // file name prefix of its screenshots
	shotsDir string
	shots    int

	// usedStep is the last TOTP time step used per secret.
	usedStep map[string]int64

	mu       sync.Mutex
	problems []problem
}

// newBrowser starts Chromium with a fresh profile and a window of w×h (a
// phone's, touch and all, when narrow); label prefixes its screenshots. The
// browser ends with ctx at the latest.
func newBrowser(ctx context.Context, t *testing.T, h *harness, chromium, shotsDir string, w, hgt int, label string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(w, hgt),
		// Nothing but loopback: every host name but 127.0.0.1 fails to
		// resolve, and the browser's own background services stay off.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
	)
	// Chromium's sandbox refuses to start as root; CI runs as root.
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	b := &browser{t: t, h: h, width: int64(w), height: int64(hgt), label: label, shotsDir: shotsDir, usedStep: map[string]int64{}}
	tab, cancelTab := chromedp.NewContext(actx, chromedp.WithListener(b.listen))
	t.Cleanup(cancelTab)
	b.ctx = tab
	// The first run starts the browser and binds it to the context it is
	// given: the tab's own, not a step's that ends with the step.
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start Chromium %s: %v", chromium, err)
	}
	b.do("set the viewport", b.viewport())
	return b
}

func (b *browser) viewport() chromedp.Action[chromedp.Void] {
	if b.width <= 480 {
		return chromedp.EmulateViewport(b.width, b.height, chromedp.EmulateMobile)
	}
	return chromedp.EmulateViewport(b.width, b.height)
}

// listen records what a clean page never reports. It runs in the tab's
// message loop: it only appends under the lock.
func (b *browser) listen(ev any) {
	var p problem
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		p = problem{kind: "exception", text: d.Text, url: d.URL}
		if d.Exception != nil && d.Exception.Description != "" {
			p.text += " " + d.Exception.Description
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		var parts []string
		for _, a := range ev.Args {
			parts = append(parts, strings.Trim(string(a.Value), `"`)+a.Description)
		}
		p = problem{kind: "console." + string(ev.Type), text: strings.Join(parts, " ")}
	case *log.EventEntryAdded:
		e := ev.Entry
		if e.Level != log.EntryLevelError && !strings.Contains(e.Text, "Content Security Policy") {
			return
		}
		p = problem{kind: "log." + string(e.Source), text: e.Text, url: e.URL}
	default:
		return
	}
	b.mu.Lock()
	b.problems = append(b.problems, p)
	b.mu.Unlock()
}

// takeProblems returns and forgets the problems reported so far.
func (b *browser) takeProblems() []problem {
	b.mu.Lock()
	defer b.mu.Unlock()
	ps := b.problems
	b.problems = nil
	return ps
}

// clean fails the test on any problem the pages reported since the last
// check; allow says which ones a step expects (e.g. the 404 of a 404 page).
func (b *browser) clean(where string, allow func(problem) bool) {
	b.t.Helper()
	for _, p := range b.takeProblems() {
		// The app has no icon yet; the browser asks for one on its own.
		if strings.HasSuffix(p.url, "/favicon.ico") {
			continue
		}
		if allow != nil && allow(p) {
			continue
		}
		b.t.Errorf("%s: the browser reported %s", where, p)
	}
}

// step is a context for one browser step.
func (b *browser) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, stepTimeout)
}

// do runs actions that load no new page.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page (through DevTools,
// which the page's CSP does not govern).
func eval[T any](b *browser, what, expr string) T {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
	return v
}

// load runs actions that load a page (a click on a link or a submit
// button) and waits for it; it returns the HTTP status of the page.
func (b *browser) load(what string, actions ...chromedp.Action[chromedp.Void]) int64 {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
	return resp.Status
}

// open types a URL into the address bar (only where no link leads) and
// returns the HTTP status of the page.
func (b *browser) open(path string) int64 {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(b.h.webURL+path))
	if err != nil {
		b.t.Fatalf("browser: open %s: %v", path, err)
	}
	return resp.Status
}

// click clicks the element sel (a link or a submit button) and waits for
// the page it loads, which must answer 2xx.
func (b *browser) click(what, sel string) {
	b.t.Helper()
	b.reveal(sel)
	if st := b.load(what, chromedp.Click(chromedp.CSS(sel))); st >= 300 {
		b.t.Fatalf("browser: %s: HTTP %d at %s", what, st, b.location())
	}
}

// reveal opens a collapsed menu (a <details> in the header, the no-script
// way to fold a navigation on a phone) when sel is inside it and hidden.
func (b *browser) reveal(sel string) {
	b.t.Helper()
	q := jsString(sel)
	eval[chromedp.Void](b, "open the menu holding "+sel, `(() => {
		const el = document.querySelector(`+q+`);
		if (!el || el.getClientRects().length) return;
		const d = el.closest("details");
		if (d) d.open = true;
	})()`)
}

func (b *browser) exists(sel string) bool {
	b.t.Helper()
	return eval[bool](b, "look for "+sel, `document.querySelector(`+jsString(sel)+`) !== null`)
}

// text is the rendered text of the first element matching sel.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return eval[string](b, "read "+sel, `(document.querySelector(`+jsString(sel)+`) || {innerText: ""}).innerText`)
}

func (b *browser) location() string {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		b.t.Fatalf("browser: location: %v", err)
	}
	return loc
}

func (b *browser) path() string {
	b.t.Helper()
	u, err := url.Parse(b.location())
	if err != nil {
		b.t.Fatal(err)
	}
	return u.Path
}

// fill types into the form field named name (in the first form that has it).
func (b *browser) fill(name, value string) {
	b.t.Helper()
	sel := `main [name="` + name + `"]`
	b.do("type into "+name, chromedp.Clear(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), value))
}

// login logs in through the login form. secret, if set, is the user's TOTP
// secret: a fresh code goes into the code field.
func (b *browser) login(user, password, secret string) {
	b.t.Helper()
	if b.path() != "/login" {
		b.open("/login")
	}
	b.fill("username", user)
	b.fill("password", password)
	if secret != "" {
		b.fill("totp", b.freshCode(secret))
	}
	b.click("log in as "+user, `main form[action="/login"] button[type="submit"]`)
	if b.path() == "/login" {
		b.t.Fatalf("login as %s stayed on the login page: %q", user, b.text("main"))
	}
}

// logout clicks "Log out" and lands on the login page.
func (b *browser) logout() {
	b.t.Helper()
	b.click("log out", `form[action="/logout"] button[type="submit"]`)
	if p := b.path(); p != "/login" {
		b.t.Fatalf("after logging out the browser is at %s, want /login", p)
	}
}

// nav follows the link to href in the page header's navigation.
func (b *browser) nav(href string) {
	b.t.Helper()
	b.click("follow the menu link "+href, `header nav a[href="`+href+`"]`)
}

// styled checks the page has the app's stylesheet applied (the header has
// the app's background, not the browser's transparent default) and that
// its images loaded.
func (b *browser) styled(where string) {
	b.t.Helper()
	bg := eval[string](b, "read the header's style", `(() => {
		const h = document.querySelector("header");
		return h ? getComputedStyle(h).backgroundColor : "no header";
	})()`)
	sheets := eval[int](b, "count stylesheets", `[...document.styleSheets].filter(s => s.href && s.cssRules.length > 0).length`)
	if bg == "no header" || bg == "rgba(0, 0, 0, 0)" || bg == "transparent" || sheets == 0 {
		b.t.Errorf("%s: page is not styled (header background %q, %d stylesheets with rules)", where, bg, sheets)
	}
	// Every image (a QR code, a blurred thumbnail) comes from our origin and loads.
	if broken := eval[[]string](b, "look for broken images", `[...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)`); len(broken) > 0 {
		b.t.Errorf("%s: images that did not load: %v", where, broken)
	}
}

// shoot saves full-page screenshots of the current page at the window's
// width and at phone width (390×844), after checking the page is styled and
// reported no problem.
func (b *browser) shoot(name string, allow func(problem) bool) {
	b.t.Helper()
	b.styled(name)
	b.clean(name, allow)
	b.shots++
	b.save(fmt.Sprintf("%s%d-%02d-%s.png", b.label, b.width, b.shots, name))
	if b.width > 390 {
		b.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
		if w := eval[int](b, "page width", `document.documentElement.scrollWidth`); w > 390 {
			// Logged, not failed, until the 390 px layout lands (issue 12).
			b.t.Logf("%s: at 390 px the page is %d px wide and scrolls sideways", name, w)
		}
		b.save(fmt.Sprintf("%s390-%02d-%s.png", b.label, b.shots, name))
		b.do("window viewport", b.viewport())
	}
}

// shootElement saves a screenshot of one element (the approve form, where
// approving asks on the case page itself).
func (b *browser) shootElement(name, sel string) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("browser: screenshot %s: %v", sel, err)
	}
	b.shots++
	file := fmt.Sprintf("%s%d-%02d-%s.png", b.label, b.width, b.shots, name)
	if err := os.WriteFile(filepath.Join(b.shotsDir, file), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *browser) save(file string) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("browser: screenshot %s: %v", file, err)
	}
	if err := os.WriteFile(filepath.Join(b.shotsDir, file), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// secretSel finds the TOTP secret shown as text on the enrolment page.
const secretSel = `#totp-secret, [data-totp-secret], code.secret`

// enrolTOTP completes TOTP enrolment when a login lands on the enrolment
// page (/account/mfa, mandatory for legal and admin): it reads the secret
// shown as text (secretSel), confirms with a current code (field
// "code"), and returns the secret. It returns "" when the login did not
// land there.
func enrolTOTP(ctx context.Context, b *browser, user string) string {
	b.t.Helper()
	if err := ctx.Err(); err != nil {
		b.t.Fatalf("enrol TOTP for %s: %v", user, err)
	}
	if !strings.HasPrefix(b.path(), "/account/mfa") {
		return ""
	}
	// Some enrolment pages start with a button that creates the secret.
	if !b.exists(secretSel) && b.exists(`main form button[type="submit"]`) {
		b.click("start TOTP enrolment", `main form button[type="submit"]`)
	}
	b.shoot("mfa-enrol-"+user, nil)
	secret := strings.ToUpper(regexp.MustCompile(`\s+`).ReplaceAllString(b.text(secretSel), ""))
	if secret == "" {
		b.t.Fatalf("enrolment page for %s shows no secret (%s): %q", user, secretSel, b.text("main"))
	}
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		b.t.Fatalf("TOTP code from the enrolment secret: %v", err)
	}
	b.fill("code", code)
	b.click("confirm TOTP enrolment", `main form:has([name="code"]) button[type="submit"]`)
	if strings.Contains(strings.ToLower(b.text("main")), "invalid") {
		b.t.Fatalf("enrolment refused the code: %q", b.text("main"))
	}
	b.shoot("mfa-recovery-codes-"+user, nil)
	b.usedStep[secret] = time.Now().Unix() / 30
	return secret
}

// freshCode is a TOTP code for a time step not used before with secret:
// replay protection refuses a code whose step was already accepted, so
// this waits (polling) for the next 30 s step when needed.
func (b *browser) freshCode(secret string) string {
	h := b.h
	h.t.Helper()
	step := func() int64 { return time.Now().Unix() / 30 }
	if last, ok := b.usedStep[secret]; ok {
		h.eventually("a TOTP time step not used yet", 35*time.Second, func() (bool, error) { return step() > last, nil })
	}
	now := time.Now()
	code, err := totp.GenerateCode(secret, now)
	if err != nil {
		h.t.Fatal(err)
	}
	b.usedStep[secret] = now.Unix() / 30
	return code
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	return "`" + strings.NewReplacer("\\", "\\\\", "`", "\\`", "$", "\\$").Replace(s) + "`"
}
