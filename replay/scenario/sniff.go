package scenario

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Both files are text. What a user may give instead (a compressed copy,
// UTF-16 from Windows PowerShell's >, an empty metrics file) is named as
// such, with what to do, before a parser quotes binary back at them.

// utf8BOM starts text some Windows editors save; it is dropped.
const utf8BOM = "\xef\xbb\xbf"

// notText says what a file starting with head is when it is not text
// sentinel reads ("" when it may be), and how to make it so.
func notText(head []byte) (what, fix string) {
	const iconv = "convert it to UTF-8 first, e.g. iconv -f UTF-16 -t UTF-8"
	switch {
	case bytes.HasPrefix(head, []byte("\x1f\x8b")):
		return "gzip-compressed", "gunzip it first"
	case bytes.HasPrefix(head, []byte("\x28\xb5\x2f\xfd")):
		return "zstd-compressed", "unzstd it first"
	case len(head) >= 10 && bytes.HasPrefix(head, []byte("BZh")) && head[3] >= '1' && head[3] <= '9' &&
		bytes.Equal(head[4:10], []byte("\x31\x41\x59\x26\x53\x59")):
		return "bzip2-compressed", "bunzip2 it first"
	case bytes.HasPrefix(head, []byte("\xfd7zXZ\x00")):
		return "xz-compressed", "unxz it first"
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return "a zip archive", "unzip it first"
	case bytes.HasPrefix(head, []byte("\xff\xfe")), bytes.HasPrefix(head, []byte("\xfe\xff")):
		return "UTF-16 text (as Windows PowerShell's > writes)", iconv
	case len(head) >= 4 && (head[0] != 0 && head[1] == 0 && head[3] == 0 || head[0] == 0 && head[1] != 0 && head[2] == 0):
		// ASCII in UTF-16 without a byte order mark: every other byte NUL,
		// which neither OpenMetrics nor YAML text starts with.
		return "UTF-16 text", iconv
	}
	return "", ""
}

// sniffLen is how much of a file notText looks at.
const sniffLen = 512

// checkText returns an error naming the file when head (its first bytes;
// all of it when shorter than sniffLen) is empty or not text; reads says
// what sentinel reads, e.g. "OpenMetrics text".
func checkText(name string, head []byte, reads, want string) error {
	if len(head) == 0 {
		return fmt.Errorf("%s: empty (0 bytes); sentinel reads %s: %s", name, reads, want)
	}
	if what, fix := notText(head); what != "" {
		return fmt.Errorf("%s: %s; sentinel reads %s: %s", name, what, reads, fix)
	}
	return nil
}

// openMetrics checks the start of a metrics file and returns a reader of
// its text, past a UTF-8 byte order mark.
func openMetrics(r io.Reader, name string, names Names) (*bufio.Reader, error) {
	br := bufio.NewReaderSize(r, readBufferSize)
	head, err := br.Peek(sniffLen)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("%s: read: %w", name, err)
	}
	want := fmt.Sprintf("samples of %s with timestamps, ending in a \"# EOF\" line (docs/scenarios.md)", names)
	if err := checkText(name, head, "OpenMetrics text", want); err != nil {
		return nil, err
	}
	if bytes.HasPrefix(head, []byte(utf8BOM)) {
		_, _ = br.Discard(len(utf8BOM)) // peeked: cannot fail
	}
	return br, nil
}

// dropCR turns "\r\n" line endings into "\n" in place: a file saved on
// Windows reads as written. No sample loses anything: a sample's line
// holds no "\r\n" but at its end (a label value's newline is escaped).
func dropCR(b []byte) []byte {
	i := bytes.Index(b, []byte("\r\n"))
	if i < 0 {
		return b
	}
	w := i
	for r := i; ; {
		j := bytes.Index(b[r:], []byte("\r\n"))
		if j < 0 {
			w += copy(b[w:], b[r:])
			return b[:w]
		}
		w += copy(b[w:], b[r:r+j])
		r += j + 1 // past the "\r": the "\n" is copied next
	}
}
