package config

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"time"

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
// or, for a number or duration too large for its type, that it is out of
// range. src is the document, parsed again to find the key at that line. A
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
	path, value := "line "+m[1], m[3]
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err == nil {
		if p, n, found := keyAt(&root, line, m[3]); found {
			path = p
			if n.Kind == yaml.ScalarNode {
				value = n.Value // yaml's message shortens long values
			}
		}
	}
	if r := outOfRange(m[4], value); r != "" {
		return fmt.Sprintf("%s: out of range: %s (line %d)", path, r, line)
	}
	got := m[2]
	if m[3] != "" {
		got += " `" + m[3] + "`"
	}
	return fmt.Sprintf("%s: want %s, got %s (line %d)", path, want, got, line)
}

// durationSyntax is what time.ParseDuration reads, whatever the size.
var durationSyntax = regexp.MustCompile(`^[-+]?([0-9]*(\.[0-9]*)?(ns|us|µs|μs|ms|s|m|h))+$`)

// outOfRange says why value, of the right form for goType, does not fit
// it; "" when its form is wrong (or it fits).
func outOfRange(goType, value string) string {
	switch goType {
	case "float64":
		if _, err := strconv.ParseFloat(value, 64); errors.Is(err, strconv.ErrRange) {
			return value + " is not a finite number (beyond ±1.8e308)"
		}
	case "int":
		if _, err := strconv.ParseInt(value, 0, 64); errors.Is(err, strconv.ErrRange) {
			return fmt.Sprintf("%s is beyond ±%d", value, math.MaxInt64)
		}
	case "time.Duration":
		if _, err := time.ParseDuration(value); err != nil && durationSyntax.MatchString(value) {
			return fmt.Sprintf("%s is beyond ±%s, the longest duration", value, time.Duration(math.MaxInt64))
		}
	}
	return ""
}

// keyAt finds the path of the value at line, and its node, preferring a
// scalar whose text yaml's messages show as shown (several values may
// share a line in flow style).
func keyAt(root *yaml.Node, line int, shown string) (string, *yaml.Node, bool) {
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
		if c.n.Kind == yaml.ScalarNode && shownAs(c.n.Value) == shown {
			return c.path, c.n, true
		}
	}
	if len(cands) > 0 {
		return cands[0].path, cands[0].n, true
	}
	return "", nil, false
}

// shownAs is how yaml's messages show a scalar: beyond 10 bytes, its first
// 7 and "...".
func shownAs(v string) string {
	if len(v) > 10 {
		return v[:7] + "..."
	}
	return v
}
