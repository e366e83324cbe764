package config

import (
	"fmt"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// yaml's message for a value of the wrong type names only the line.
var cannotUnmarshal = regexp.MustCompile("^line (\\d+): cannot unmarshal (!!\\w+)(?: `(.*)`)? into (\\S+)$")

// wants says, per Go type in yaml's messages, what a value must be.
var wants = map[string]string{
	"time.Duration": "a duration such as 15s, 5m or 1h30m",
	"float64":       "a number",
	"int":           "a whole number",
	"bool":          "true or false",
	"string":        "a string",
	"[]string":      "a list of strings",
}

// typeError rewrites yaml's message for a mistyped value into one naming
// the key's path and what the value must be:
//
//	detection.poll_interval: want a duration such as 15s, 5m or 1h30m, got !!int `15` (line 2)
//
// src is the document, parsed again to find the key at that line. A
// message of another shape is returned as it is.
func typeError(msg string, src []byte) string {
	m := cannotUnmarshal.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	line, _ := strconv.Atoi(m[1])
	want, ok := wants[m[4]]
	if !ok {
		want = m[4]
		if s, known := sectionOf[m[4]]; known {
			want = "a mapping of " + s + "* keys"
		}
	}
	path := "line " + m[1]
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err == nil {
		if p, found := keyAt(&root, line, m[3]); found {
			path = p
		}
	}
	got := m[2]
	if m[3] != "" {
		got += " `" + m[3] + "`"
	}
	return fmt.Sprintf("%s: want %s, got %s (line %d)", path, want, got, line)
}

// keyAt finds the path of the value at line, preferring a scalar whose
// text is value (several values may share a line in flow style).
func keyAt(root *yaml.Node, line int, value string) (string, bool) {
	type cand struct {
		path string
		n    *yaml.Node
	}
	var cands []cand
	var walk func(path string, n *yaml.Node)
	walk = func(path string, n *yaml.Node) {
		if path != "" && n.Line == line {
			cands = append(cands, cand{path, n})
		}
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(path, c)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := n.Content[i].Value
				if path != "" {
					p = path + "." + p
				}
				walk(p, n.Content[i+1])
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(fmt.Sprintf("%s[%d]", path, i), c)
			}
		}
	}
	walk("", root)
	for _, c := range cands {
		if c.n.Kind == yaml.ScalarNode && c.n.Value == value {
			return c.path, true
		}
	}
	if len(cands) > 0 {
		return cands[0].path, true
	}
	return "", false
}
