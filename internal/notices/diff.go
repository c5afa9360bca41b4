package notices

import (
	"strings"

	"github.com/pmezard/go-difflib/difflib"
)

// Diff returns a unified diff (three lines of context) from oldText to
// newText, for showing a reviewer what changed between two revisions of a
// notice; "" when they are the same. Line endings are normalised first, so a
// revision saved from a browser form (CRLF) does not differ on every line.
func Diff(oldText, newText string) string {
	oldText = strings.ReplaceAll(oldText, "\r\n", "\n")
	newText = strings.ReplaceAll(newText, "\r\n", "\n")
	if oldText == newText {
		return ""
	}
	out, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A:        lines(oldText),
		B:        lines(newText),
		FromFile: "previous revision",
		ToFile:   "this revision",
		Context:  3,
	})
	if err != nil {
		// It writes to a strings.Builder, which cannot fail; say so rather
		// than show an empty diff.
		return "diff failed: " + err.Error()
	}
	return out
}

// lines splits s after each newline. Unlike difflib.SplitLines it adds no
// empty last line, which would show as a spurious blank line of context.
func lines(s string) []string {
	ls := strings.SplitAfter(s, "\n")
	if ls[len(ls)-1] == "" {
		return ls[:len(ls)-1]
	}
	ls[len(ls)-1] += "\n"
	return ls
}
