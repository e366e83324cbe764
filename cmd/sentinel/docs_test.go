package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestDocLinksStayInside: the README and the scenario format link only
// to files inside the repository, and those files exist.
func TestDocLinksStayInside(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{"README.md", "CONTRIBUTING.md", "docs/scenarios.md", "examples/mli-6574/README.md"} {
		b, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		links := mdLink.FindAllStringSubmatch(string(b), -1)
		if len(links) == 0 {
			t.Errorf("%s: no links found", doc)
		}
		for _, m := range links {
			target, _, _ := strings.Cut(m[1], "#")
			if strings.Contains(target, "://") || target == "" {
				t.Errorf("%s: link %s leaves the repository", doc, m[1])
				continue
			}
			p := filepath.Join(root, filepath.Dir(doc), target)
			if rel, err := filepath.Rel(root, p); err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s: link %s leaves the repository", doc, m[1])
				continue
			}
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s: link %s: %v", doc, m[1], err)
			}
		}
	}
}
