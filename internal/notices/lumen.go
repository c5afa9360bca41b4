package notices

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// LumenNotice is a sent notice shaped after a notice in the Lumen database
// (lumendatabase.org), so that notices can be reported there. Field names
// follow Lumen's where it has them; Court and Reference are ours. Everything
// in it may become public: URLs go through RedactURL, and no contact e-mail
// or personal data is included.
type LumenNotice struct {
	Type         string      `json:"type"` // "CourtOrder"
	Title        string      `json:"title"`
	Body         string      `json:"body,omitempty"`
	DateSent     string      `json:"date_sent"`     // RFC 3339, UTC
	DateReceived string      `json:"date_received"` // when the recipient got it: unknown, so ""
	Sender       LumenEntity `json:"sender"`
	Principal    LumenEntity `json:"principal"`
	Recipient    LumenEntity `json:"recipient"`
	Works        []LumenWork `json:"works"`
	ActionTaken  string      `json:"action_taken"` // "", "Yes", "No" or "Partial", as Lumen allows
	Jurisdiction string      `json:"jurisdiction_list,omitempty"`
	Court        string      `json:"court"`
	Reference    string      `json:"reference"`
}

// LumenEntity is a sender, principal or recipient.
type LumenEntity struct {
	Name         string `json:"name"`
	Kind         string `json:"kind,omitempty"` // "organization" or "individual"
	AddressLine1 string `json:"address_line_1,omitempty"`
	CountryCode  string `json:"country_code,omitempty"`
}

// LumenWork is what the notice concerns and where it was found.
type LumenWork struct {
	Description    string     `json:"description"`
	InfringingURLs []LumenURL `json:"infringing_urls"`
}

// LumenURL is one infringing URL.
type LumenURL struct {
	URL string `json:"url"`
}

// lumenActions are the action_taken values Lumen accepts ("" = not said).
var lumenActions = []string{"", "Yes", "No", "Partial"}

// NewLumenNotice describes a notice sent at sentAt for export. Its URLs are
// redacted and deduplicated; ActionTaken is left for the caller to set once
// the recipient has acted.
func NewLumenNotice(d Data, sentAt time.Time) LumenNotice {
	in := d.Injunction
	var urls []LumenURL
	for _, it := range dedupeItems(d.Items) {
		u := LumenURL{URL: RedactURL(it.URL)}
		if !slices.Contains(urls, u) {
			urls = append(urls, u)
		}
	}
	date := ""
	if !sentAt.IsZero() {
		date = sentAt.UTC().Format(time.RFC3339)
	}
	return LumenNotice{
		Type:      "CourtOrder",
		Title:     oneLine(fmt.Sprintf("%s %s to %s", kindTitle(cmpKind(d.Kind), max(d.Number, 1)), d.Reference, d.Target)),
		Body:      oneLine(fmt.Sprintf("Orders of the %s in proceeding %s dated %s.", in.Court, in.FileNumber, in.DateOfOrders)),
		DateSent:  date,
		Sender:    LumenEntity{Name: oneLine(in.Contact.Name), Kind: "organization", AddressLine1: oneLine(in.Contact.Address)},
		Principal: LumenEntity{Name: oneLine(in.Claimant), Kind: "organization"},
		Recipient: LumenEntity{Name: oneLine(d.Target), Kind: "organization"},
		Works:     []LumenWork{{Description: oneLine(fmt.Sprintf("Data covered by the orders of the %s in proceeding %s (not reproduced)", in.Court, in.FileNumber)), InfringingURLs: urls}},
		Court:     oneLine(in.Court),
		Reference: d.Reference,
	}
}

func cmpKind(k NoticeKind) NoticeKind {
	if k == "" {
		return KindNotice
	}
	return k
}

// WriteLumen writes notices as indented JSON, {"notices": [...]}. It redacts
// every URL again (RedactURL is idempotent), so a LumenNotice built by hand
// cannot leak an identifier into the export.
func WriteLumen(w io.Writer, ns []LumenNotice) error {
	out := make([]LumenNotice, len(ns))
	for i, n := range ns {
		if n.Type == "" {
			n.Type = "CourtOrder"
		}
		if !slices.Contains(lumenActions, n.ActionTaken) {
			return fmt.Errorf("lumen export: notice %d (%s): action_taken %q is not one of Yes, No, Partial or empty", i+1, n.Reference, n.ActionTaken)
		}
		works := make([]LumenWork, len(n.Works))
		for j, wk := range n.Works {
			urls := make([]LumenURL, len(wk.InfringingURLs))
			for k, u := range wk.InfringingURLs {
				urls[k] = LumenURL{URL: RedactURL(u.URL)}
			}
			wk.InfringingURLs = urls
			works[j] = wk
		}
		n.Works = works
		out[i] = n
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // URLs with & stay readable
	if err := enc.Encode(struct {
		Notices []LumenNotice `json:"notices"`
	}{out}); err != nil {
		return fmt.Errorf("lumen export: %w", err)
	}
	return nil
}

// Redacted replaces an identifying URL part.
const Redacted = "[redacted]"

// identifierREs find what must not be published from a URL part (after
// percent-decoding). Names ("firstname_lastname") are not recognised: they
// cannot be told from harmless words without a list of names.
var identifierREs = []*regexp.Regexp{
	// e-mail addresses
	regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+`),
	// NHI-like: three letters then four digits (the old NHI), two digits and
	// two letters (the new one) or seven digits, standing alone
	regexp.MustCompile(`(?i)(^|[^a-z0-9])[a-z]{3}([0-9]{4}|[0-9]{2}[a-z]{2}|[0-9]{7})($|[^a-z0-9])`),
	// runs of six or more digits: record, account and most ID numbers
	regexp.MustCompile(`[0-9]{6,}`),
	// phone numbers: nine or more digits with the usual separators
	regexp.MustCompile(`\+?[0-9](?:[ \-.()]*[0-9]){8,}`),
}

func identifying(s string) bool {
	for _, re := range identifierREs {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// RedactURL replaces every path segment, query key or value and fragment of
// u that carries an identifier (e-mail address, NHI-like number, six or more
// digits in a row, phone number) with "[redacted]", keeping the scheme, host
// and harmless parts, so a published URL still shows where content was
// without saying whose it was. User info is dropped. A string that does not
// parse as a URL is redacted whole if it carries an identifier.
func RedactURL(u string) string {
	u = strings.TrimSpace(u)
	p, err := url.Parse(u)
	if err != nil {
		if identifying(u) {
			return Redacted
		}
		return u
	}
	var b strings.Builder
	if p.Scheme != "" {
		b.WriteString(p.Scheme + ":")
	}
	if p.Opaque != "" { // mailto:..., urn:...
		if identifying(unescape(p.Opaque, url.PathUnescape)) {
			b.WriteString(Redacted)
		} else {
			b.WriteString(p.Opaque)
		}
	} else {
		if p.Host != "" {
			b.WriteString("//" + p.Host)
		}
		segs := strings.Split(p.EscapedPath(), "/")
		for i, s := range segs {
			if identifying(unescape(s, url.PathUnescape)) {
				segs[i] = Redacted
			}
		}
		b.WriteString(strings.Join(segs, "/"))
	}
	if p.RawQuery != "" || p.ForceQuery {
		pairs := strings.Split(p.RawQuery, "&")
		for i, kv := range pairs {
			k, v, hasV := strings.Cut(kv, "=")
			if identifying(unescape(k, url.QueryUnescape)) {
				k = Redacted
			}
			if hasV && identifying(unescape(v, url.QueryUnescape)) {
				v = Redacted
			}
			if hasV {
				pairs[i] = k + "=" + v
			} else {
				pairs[i] = k
			}
		}
		b.WriteString("?" + strings.Join(pairs, "&"))
	}
	if p.Fragment != "" {
		if identifying(p.Fragment) {
			b.WriteString("#" + Redacted)
		} else {
			b.WriteString("#" + p.EscapedFragment())
		}
	}
	return b.String()
}

func unescape(s string, f func(string) (string, error)) string {
	if d, err := f(s); err == nil {
		return d
	}
	return s
}
