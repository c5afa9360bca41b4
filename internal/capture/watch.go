package capture

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/leakwatch/leakwatch/fingerprints/extract"
)

// MethodKeyword is the method of a hit on a source's watch terms.
const MethodKeyword = "keyword"

// Watch finds a source's watch terms in what its pages say: the breach's
// or the company's name in a post is worth an analyst's look even when no
// document of the breach is attached.
type Watch struct {
	terms []watchTerm
}

type watchTerm struct {
	label string
	re    *regexp.Regexp
}

// CompileWatch compiles watch terms: a /regular expression/ as it is
// (case-insensitive), anything else as a case-insensitive whole-word phrase
// in which any run of spaces matches any whitespace.
func CompileWatch(terms []string) (*Watch, error) {
	w := &Watch{}
	for _, t := range terms {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		var expr string
		if len(t) > 2 && strings.HasPrefix(t, "/") && strings.HasSuffix(t, "/") {
			expr = "(?i)" + t[1:len(t)-1]
		} else {
			words := strings.Fields(t)
			for i, wd := range words {
				words[i] = regexp.QuoteMeta(wd)
			}
			expr = `(?i)(?:^|\b|\W)` + strings.Join(words, `\s+`) + `(?:\b|\W|$)`
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return nil, fmt.Errorf("watch term %q: %w", t, err)
		}
		w.terms = append(w.terms, watchTerm{label: t, re: re})
	}
	if len(w.terms) == 0 {
		return nil, nil
	}
	return w, nil
}

// Find returns the terms that occur in text, in the order they were given.
func (w *Watch) Find(text string) []string {
	if w == nil {
		return nil
	}
	var out []string
	for _, t := range w.terms {
		if t.re.MatchString(text) {
			out = append(out, t.label)
		}
	}
	return out
}

// pageText is the visible text of a page's content (HTML).
func pageText(ctx context.Context, body []byte) (string, error) {
	res, err := extract.Extract(ctx, body, extract.Limits{})
	if err != nil {
		return "", err
	}
	return res.Text, nil
}
