package scenario

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// The stream of objects.yaml, cut into documents with the line of each,
// so that every error names the line it is about.

// document is one document of the stream and where it starts: line is
// the first line of text, first that of its content (after separators,
// comments and blank lines), the line reported for the document.
type document struct {
	text        []byte
	line, first int
	json        bool
}

// lineError is an error at a line of the file.
type lineError struct {
	line int
	err  error
}

func (e lineError) Error() string { return e.err.Error() }
func (e lineError) Unwrap() error { return e.err }

func atLine(line int, err error) error { return lineError{line, err} }

func lineOf(err error) int {
	var le lineError
	if errors.As(err, &le) {
		return le.line
	}
	return 1
}

// splitDocuments cuts a stream into documents: JSON values when it starts
// with "{" (kubectl's -o json streams have no separators), else YAML
// documents separated by "---".
func splitDocuments(data []byte) ([]document, error) {
	if utilyaml.IsJSONBuffer(data) {
		return splitJSON(data)
	}
	return splitYAML(data)
}

func splitJSON(data []byte) ([]document, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	ls := newLines(data)
	var out []document
	for {
		start := int(dec.InputOffset())
		for start < len(data) && isSpace(data[start]) {
			start++
		}
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			at := start
			var se *json.SyntaxError
			if errors.As(err, &se) {
				at = int(se.Offset)
			}
			return nil, atLine(lineAt(data, at), fmt.Errorf("invalid JSON: %w", err))
		}
		l := ls.at(start)
		out = append(out, document{text: raw, line: l, first: l, json: true})
	}
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\r' || b == '\n' }

// lineAt is the 1-based line of byte offset off.
func lineAt(data []byte, off int) int {
	off = min(max(off, 0), len(data))
	return bytes.Count(data[:off], []byte("\n")) + 1
}

// lines finds the lines of offsets asked in increasing order, counting
// only the newlines since the last one asked: a stream of thousands of
// documents is read in linear time.
type lines struct {
	data      []byte
	off, line int
}

func newLines(data []byte) *lines { return &lines{data: data, line: 1} }

// at is the 1-based line of byte offset off.
func (l *lines) at(off int) int {
	off = min(max(off, 0), len(l.data))
	if off < l.off {
		l.off, l.line = 0, 1
	}
	l.line += bytes.Count(l.data[l.off:off], []byte("\n"))
	l.off = off
	return l.line
}

// splitYAML cuts a YAML stream with apimachinery's reader, finding each
// document's first line in the input (the reader drops separators and
// empty documents). Lines end in "\n" for the reader; "\r\n" is one too.
func splitYAML(data []byte) ([]document, error) {
	norm := bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	rd := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(norm)))
	ls := newLines(norm)
	var out []document
	off := 0
	for {
		text, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, atLine(lineAt(norm, off), fmt.Errorf("invalid YAML: %w", err))
		}
		i := bytes.Index(norm[off:], bytes.TrimSuffix(text, []byte("\n")))
		if i < 0 {
			i = 0 // cannot happen: the reader returns the input's lines
		}
		start := off + i
		off = start + len(text) - 1
		if isComments(text) {
			continue
		}
		doc := document{text: append([]byte(nil), text...), line: ls.at(start)}
		doc.first = doc.line + contentLine(text)
		if err := secondDocument(doc); err != nil {
			return nil, err
		}
		out = append(out, doc)
	}
}

// secondDocument rejects a document end marker ("...") followed by more
// content: YAML would read only the first document, losing the rest
// silently.
func secondDocument(doc document) error {
	lines := bytes.SplitAfter(doc.text, []byte("\n"))
	for i, l := range lines {
		if !bytes.HasPrefix(l, []byte("...")) || len(bytes.TrimSpace(l[3:])) > 0 && bytes.TrimSpace(l[3:])[0] != '#' {
			continue
		}
		if !isComments(bytes.Join(lines[i+1:], nil)) {
			return atLine(doc.line+i, errors.New(`a document follows the end marker "...": separate documents with "---"`))
		}
	}
	return nil
}

// contentLine is the 0-based line of b's first content: not blank, not a
// comment, not a "---" separator.
func contentLine(b []byte) int {
	for i, l := range bytes.Split(b, []byte("\n")) {
		l = bytes.TrimSpace(l)
		if len(l) > 0 && l[0] != '#' && !bytes.HasPrefix(l, []byte("---")) {
			return i
		}
	}
	return 0
}

// isComments reports whether b holds no content: only blank lines,
// comments, "---" separators (the reader keeps a leading one) and "..."
// end markers.
func isComments(b []byte) bool {
	for _, l := range bytes.Split(b, []byte("\n")) {
		if bytes.HasPrefix(l, []byte("---")) || bytes.HasPrefix(l, []byte("...")) {
			continue
		}
		l = bytes.TrimSpace(l)
		if len(l) > 0 && l[0] != '#' {
			return false
		}
	}
	return true
}
