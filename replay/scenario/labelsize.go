package scenario

import (
	"fmt"
	"strings"
)

// MaxLabelBytes is the longest metric name, label name or label value
// Prometheus's labels.Labels holds: it stores each one's length in 24
// bits, so a longer one panics and one of exactly 16 MiB becomes empty.
// A series with a longer one is an error.
const MaxLabelBytes = 1<<24 - 1

// checkLabelSizes finds in a series' text (as the parser returns it:
// name{label="value",...}, names possibly quoted) a metric name, label
// name or label value longer than MaxLabelBytes once unescaped as the
// parser unescapes it. The text is one the parser accepted.
func checkLabelSizes(series []byte) error {
	if len(series) <= MaxLabelBytes {
		return nil // no part of it can be longer
	}
	name := "" // the last label name, for the message
	for i := 0; i < len(series); {
		if isDelimiter(series[i]) {
			i++
			continue
		}
		start, n := i, 0
		if series[i] == '"' {
			i, n = quotedEnd(series, i)
		} else {
			for i < len(series) && !isDelimiter(series[i]) {
				i++
			}
			n = i - start
		}
		isValue, isName := start > 0 && series[start-1] == '=', i < len(series) && series[i] == '='
		if isName {
			name = cut(series[start:i])
		}
		if n <= MaxLabelBytes {
			continue
		}
		what := "the metric name"
		switch {
		case isValue:
			what = "the value of label " + name
		case isName:
			what = "a label name (" + name + ")"
		}
		return fmt.Errorf("%s is %d bytes long: a metric name, label name or label value can be at most "+
			"%d bytes (16 MiB less one byte), as Prometheus stores labels", what, n, MaxLabelBytes)
	}
	return nil
}

func isDelimiter(c byte) bool { return c == '{' || c == '}' || c == ',' || c == '=' }

// quotedEnd returns the end of the quoted string starting at i and its
// length unescaped: \", \\ and \n are one byte each, any other
// backslash pair is kept as it is (Prometheus's lvalReplacer).
func quotedEnd(b []byte, i int) (end, n int) {
	for i++; i < len(b) && b[i] != '"'; i++ {
		if b[i] == '\\' && i+1 < len(b) {
			i++
			if b[i] != '"' && b[i] != '\\' && b[i] != 'n' {
				n++
			}
		}
		n++
	}
	return i + 1, n
}

// cut shortens a name for a message.
func cut(b []byte) string {
	if len(b) > 40 {
		return strings.ToValidUTF8(string(b[:40]), "") + "…"
	}
	return string(b)
}
