package refeval

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/leakwatch/leakwatch/internal/references"
)

// Documents that quote each other: a later letter quoting a passage of an
// earlier one verbatim, as referral and discharge letters do, so the
// passage is held by two references (or three, when a third quotes it
// too) and no stretch of it is in one reference alone. A post pasting the
// passage must match every holder; posts pasting parts of fresh letters
// written in the same templates (header, body or sign-off: template text
// held by many of the quoting letters) must match nothing.
const (
	ClassQuoted      = "quoted-passage" // a post pasting a passage two or three references hold
	ClassQuotedFresh = "quoted-fresh"   // a post pasting a fresh letter in the same templates: must NOT match
)

// quoteLetterBytes is the quoting letters' mean size.
const quoteLetterBytes = 1800

// quoteItem is one post of the quoting classes.
type quoteItem struct {
	class   string
	name    string
	data    []byte
	holders []string // reference paths holding the passage; none for fresh posts
}

// writeQuotes writes chains of quoting letters under dir/quoting (chains
// of two, every third of three) and returns, per chain, a post pasting
// the shared passage, and as many posts pasting fresh letters.
func writeQuotes(dir string, seed int64, chains int) ([]quoteItem, error) {
	if err := os.MkdirAll(filepath.Join(dir, "quoting"), 0o755); err != nil {
		return nil, fmt.Errorf("eval: quoting letters: %w", err)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x71756f7465)) // "quote"
	g := newLetterGen()
	lseed := uint64(seed) ^ 0x71756f7465
	var items []quoteItem
	next := uint64(0)
	write := func(data []byte) (string, error) {
		rel := fmt.Sprintf("quoting/letter-%04d.txt", next)
		next++
		return rel, os.WriteFile(filepath.Join(dir, filepath.FromSlash(rel)), data, 0o644)
	}
	for c := range chains {
		earlier := string(g.letter(lseed, next, quoteLetterBytes))
		quote := passage(earlier, 227+rng.IntN(171)) // the 227–397 characters of the issue
		first, err := write([]byte(earlier))
		if err != nil {
			return nil, err
		}
		holders := []string{first}
		for range 1 + boolInt(c%3 == 2) {
			later := string(g.letter(lseed, next, quoteLetterBytes))
			at := wordStart(later, len(later)/2)
			intro := fmt.Sprintf("\nThe letter of %s said:\n\"", g.date.AddDate(0, 0, -30-rng.IntN(300)).Format("2 January 2006"))
			rel, err := write([]byte(later[:at] + intro + quote + "\"\n" + later[at:]))
			if err != nil {
				return nil, err
			}
			holders = append(holders, rel)
		}
		items = append(items, quoteItem{class: ClassQuoted, name: fmt.Sprintf("quote-post-%03d.txt", c), data: forumPost(rng, quote), holders: holders})

		// A fresh letter in the same templates, quoted from its start
		// (letterhead and greeting), middle or end (sign-off).
		fresh := string(g.letter(lseed, freshSeedStream+uint64(c), quoteLetterBytes))
		n := 227 + rng.IntN(171)
		var part string
		switch c % 3 {
		case 0:
			part = fresh[:wordStart(fresh, n)]
		case 1:
			part = passage(fresh, n)
		default:
			part = fresh[wordStart(fresh, len(fresh)-n):]
		}
		items = append(items, quoteItem{class: ClassQuotedFresh, name: fmt.Sprintf("fresh-post-%03d.txt", c), data: forumPost(rng, strings.TrimSpace(part))})
	}
	return items, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// wordStart returns the start of the first word at or after i.
func wordStart(s string, i int) int {
	for i < len(s) && !isSpaceByte(s[i]) {
		i++
	}
	for i < len(s) && isSpaceByte(s[i]) {
		i++
	}
	return i
}

// scoreQuotes scans the quoting classes' posts. A quoted passage is found
// when every holder is matched, and correct when nothing else is; a fresh
// post that matches anything is a false positive.
func scoreQuotes(ctx context.Context, sc *references.Scanner, items []quoteItem) ([]ClassResult, error) {
	classes := map[string]*ClassResult{}
	for _, c := range []string{ClassQuoted, ClassQuotedFresh} {
		classes[c] = &ClassResult{Transform: c, Methods: map[string]int{}}
	}
	for _, it := range items {
		cr := classes[it.class]
		cr.Items++
		matched := map[string]string{}
		err := sc.Scan(ctx, it.name, it.data, func(r references.ItemResult) error {
			for _, m := range r.Matches {
				if _, ok := matched[m.RefName]; !ok {
					matched[m.RefName] = m.Method
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("eval: scan %s: %w", it.name, err)
		}
		names := make([]string, 0, len(matched))
		for n := range matched {
			names = append(names, n)
		}
		slices.Sort(names)
		if len(matched) > 0 {
			cr.Positives++
		}
		extra := slices.ContainsFunc(names, func(n string) bool { return !slices.Contains(it.holders, n) })
		all := len(it.holders) > 0 && !slices.ContainsFunc(it.holders, func(h string) bool { _, ok := matched[h]; return !ok })
		switch {
		case all && !extra:
			cr.Found++
			cr.Correct++
			cr.Methods[matched[it.holders[0]]]++
		case len(it.holders) > 0 && !all:
			cr.Misses = append(cr.Misses, fmt.Sprintf("%s (held by %d) matched %v", it.name, len(it.holders), names))
		case len(matched) > 0:
			cr.Misses = append(cr.Misses, fmt.Sprintf("%s matched %v", it.name, names))
		}
	}
	var out []ClassResult
	for _, c := range []string{ClassQuoted, ClassQuotedFresh} {
		cr := classes[c]
		cr.score() // fresh posts are negatives: nothing to find
		out = append(out, *cr)
	}
	return out, nil
}
