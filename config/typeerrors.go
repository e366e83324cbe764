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
	"time.Duration":                "a duration such as 15s, 5m or 1h30m",
	"float64":                      "a number",
	"int":                          "a whole number",
	"bool":                         "true or false",
	"string":                       "a string",
	"[]string":                     "a list of strings",
	"map[string]config.Identities": "a mapping of field managers to their users, groups and service_accounts",
	"config.Identities":            "a mapping of users, groups and service_accounts",
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
		if p, n, found := keyAt(&root, line, m[3], m[2]); found {
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
// share a line in flow style), then a node of tag (a mapping and its
// first value start on the same line).
func keyAt(root *yaml.Node, line int, shown, tag string) (string, *yaml.Node, bool) {
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
	for _, c := range cands {
		if c.n.ShortTag() == tag {
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

var notFound = regexp.MustCompile(`^line (\d+): field (\S+) not found in type (\S+)$`)

// sectionOf maps a Go type in yaml's messages to its path in the file.
var sectionOf = map[string]string{
	"config.Config":         "",
	"config.Detection":      "detection.",
	"config.Rollback":       "rollback.",
	"config.Healthy":        "rollback.healthy.",
	"config.OptOut":         "rollback.opt_out.",
	"config.Guard":          "guard.",
	"config.Paging":         "paging.",
	"config.Kubernetes":     "kubernetes.",
	"config.Metrics":        "metrics.",
	"config.Prometheus":     "metrics.prometheus.",
	"config.BasicAuth":      "metrics.prometheus.basic_auth.",
	"config.TLS":            "metrics.prometheus.tls.",
	"config.Datadog":        "metrics.datadog.",
	"config.PagerDuty":      "paging.pagerduty.",
	"config.Run":            "run.",
	"config.LeaderElection": "run.leader_election.",
}

// decodeErrors rewrites yaml's messages into one line per problem, naming
// the key's path; src is the document.
func decodeErrors(te *yaml.TypeError, src []byte) []error {
	var errs []error
	for _, m := range te.Errors {
		if s := notFound.FindStringSubmatch(m); s != nil {
			path, known := sectionOf[s[3]]
			if !known { // an entry of a map, such as guard.identities.helm.
				path = keyPath(src, s[1], s[2])
			}
			m = fmt.Sprintf("%s%s: unknown key (line %s)", path, s[2], s[1])
		} else {
			m = typeError(m, src)
		}
		errs = append(errs, errors.New(m))
	}
	return errs
}

// keyPath is the path, with a trailing dot, of the mapping holding the
// key name at line (as yaml's messages give it) in the document src; ""
// when it is not found.
func keyPath(src []byte, line, name string) string {
	var root yaml.Node
	if yaml.Unmarshal(src, &root) != nil {
		return ""
	}
	var walk func(path string, n *yaml.Node) (string, bool)
	walk = func(path string, n *yaml.Node) (string, bool) {
		for i, c := range n.Content {
			if n.Kind == yaml.MappingNode && i%2 == 0 {
				if c.Value == name && strconv.Itoa(c.Line) == line {
					return path, true
				}
				if p, ok := walk(path+c.Value+".", n.Content[i+1]); ok {
					return p, true
				}
			} else if n.Kind != yaml.MappingNode {
				if p, ok := walk(path, c); ok {
					return p, true
				}
			}
		}
		return "", false
	}
	p, _ := walk("", &root)
	return p
}
