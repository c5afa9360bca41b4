package testkit

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/leakwatch/leakwatch/"

// fixtureUsers are the only non-test files allowed to import a fixture: the
// demo command, and the measurement package behind `leakwatch eval` and
// `leakwatch bench`. Everything else is product code.
var fixtureUsers = map[string]bool{
	"cmd/leakwatch/demo.go":                    true,
	"cmd/leakwatch/demo_telegram.go":           true,
	"internal/crawlbench/crawlbench.go":        true,
	"internal/references/refeval/bench.go":     true,
	"internal/references/refeval/eval.go":      true,
	"internal/references/refeval/images.go":    true,
	"internal/references/refeval/textbench.go": true,
}

// TestProductLinksNoFixture parses every non-test Go file of the module and
// fails when product code imports a fixture package.
func TestProductLinksNoFixture(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s: %v", root, err)
	}
	fset := token.NewFileSet()
	checked := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || rel == "internal/testkit" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, module+"internal/testkit") && !fixtureUsers[rel] {
				t.Errorf("%s imports the fixture %s; product code must not link fixtures", rel, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 100 {
		t.Fatalf("checked only %d files; is the walk rooted at the module?", checked)
	}
	for rel := range fixtureUsers {
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel))); err != nil {
			t.Errorf("allow-listed fixture user %s: %v (update the list)", rel, err)
		}
	}
}
