package main

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
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

var docRef = regexp.MustCompile(`docs/[A-Za-z0-9_./-]+\.md(#[A-Za-z0-9_-]+)?`)

// TestCommentsNameExistingDocs: package docs keep to a few lines and link
// the long explanation in docs/, so every doc there that a Go file names
// must exist, with the section its #fragment names.
func TestCommentsNameExistingDocs(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	refs := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata"):
			return filepath.SkipDir
		case d.IsDir() || !strings.HasSuffix(p, ".go"):
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		for _, m := range docRef.FindAllStringSubmatch(string(b), -1) {
			refs++
			doc, fragment, _ := strings.Cut(m[0], "#")
			anchors, err := headingAnchors(filepath.Join(root, doc))
			if err != nil {
				t.Errorf("%s names %s: %v", rel, m[0], err)
			} else if fragment != "" && !anchors[fragment] {
				t.Errorf("%s names %s: %s has no such section", rel, m[0], doc)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if refs == 0 {
		t.Error("no Go file names a doc in docs/")
	}
}

// headingAnchors reads a markdown file and returns the anchors GitHub
// gives its headings: lower case, punctuation dropped, spaces made
// hyphens. Lines inside fenced code blocks are not headings.
func headingAnchors(path string) (map[string]bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	anchors := map[string]bool{}
	fenced := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
			continue
		}
		if fenced || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		anchors[strings.Map(func(r rune) rune {
			switch {
			case r == ' ':
				return '-'
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				return unicode.ToLower(r)
			}
			return -1
		}, title)] = true
	}
	return anchors, sc.Err()
}
