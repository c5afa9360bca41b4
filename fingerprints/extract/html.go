package extract

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/charset"
	"golang.org/x/text/transform"
)

// htmlBlock reports elements that end a line of text.
func htmlBlock(tag string) bool {
	switch tag {
	case "p", "div", "br", "hr", "li", "ul", "ol", "dl", "dt", "dd", "tr", "table",
		"thead", "tbody", "tfoot", "caption", "h1", "h2", "h3", "h4", "h5", "h6",
		"section", "article", "header", "footer", "nav", "aside", "main", "pre",
		"blockquote", "address", "form", "fieldset", "legend", "title", "figure",
		"figcaption", "details", "summary", "option", "body", "html", "center":
		return true
	}
	return false
}

// htmlSkip reports elements whose content is not document text.
func htmlSkip(tag string) bool {
	switch tag {
	case "script", "style", "noscript", "template", "svg", "math", "object", "iframe", "head":
		return true
	}
	return false
}

// extractHTML streams data through the x/net/html tokenizer, which keeps no
// tree: nesting depth costs nothing. contentType (e.g. from a mail part)
// may name the charset; otherwise a BOM or <meta charset> decides, then
// UTF-8 validity, then Windows-1252.
func extractHTML(d *doc, data []byte, contentType string) error {
	enc, name, _ := charset.DetermineEncoding(data[:min(len(data), 1024)], contentType)
	var r io.Reader = bytes.NewReader(data)
	if name != "utf-8" {
		r = transform.NewReader(r, enc.NewDecoder())
	}
	z := html.NewTokenizer(r)
	skip := ""    // the element whose content is being dropped
	keepHead := 0 // inside <title> within <head>
	pre := 0
	for n := 0; ; n++ {
		if n%1024 == 0 {
			if err := d.err(); err != nil {
				return err
			}
			if d.full() {
				return nil
			}
		}
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if err := z.Err(); err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("html tokenizer: %w", err)
			}
			return nil
		case html.TextToken:
			if skip != "" && keepHead == 0 {
				continue
			}
			t := string(z.Text())
			if pre == 0 {
				t = collapseSpace(t)
				if t == " " {
					d.space()
					continue
				}
				if d.lastNL {
					t = strings.TrimLeft(t, " ")
				}
			}
			d.write(t)
		case html.StartTagToken, html.SelfClosingTagToken:
			nameB, _ := z.TagName()
			tag := string(nameB)
			switch {
			case skip == "" && htmlSkip(tag) && tt == html.StartTagToken:
				skip = tag
			case skip == "head" && tag == "title":
				keepHead++
			}
			if tag == "pre" && tt == html.StartTagToken {
				pre++
			}
			switch {
			case htmlBlock(tag):
				d.newline()
			case tag == "td" || tag == "th":
				d.write("\t")
			}
		case html.EndTagToken:
			nameB, _ := z.TagName()
			tag := string(nameB)
			switch {
			case tag == skip:
				skip = ""
				keepHead = 0
			case tag == "title" && keepHead > 0:
				keepHead--
				d.newline()
			}
			if tag == "pre" && pre > 0 {
				pre--
			}
			if htmlBlock(tag) {
				d.newline()
			}
		}
	}
}

// collapseSpace folds runs of HTML white space into one space, as a browser
// renders them.
func collapseSpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	inSpace := false
	for _, r := range s {
		switch r {
		case ' ', '\t', '\n', '\r', '\f':
			if !inSpace {
				b.WriteByte(' ')
			}
			inSpace = true
		default:
			b.WriteRune(r)
			inSpace = false
		}
	}
	return b.String()
}
