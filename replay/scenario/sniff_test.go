package scenario

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/config"
)

// utf16le is s in UTF-16LE, with a byte order mark when bom.
func utf16le(s string, bom bool) []byte {
	var b []byte
	if bom {
		b = append(b, 0xff, 0xfe)
	}
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return b
}

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestReadMetricsNotText: a file that is not OpenMetrics text is named
// for what it is, with what to do; the parser quoted its first bytes
// back ("expected a valid start token, got \"\x1f\"").
func TestReadMetricsNotText(t *testing.T) {
	text := om(dst("cart", "cart-a", "200").run(0, 60, 0, 10))
	const reads = "test.om: %s; sentinel reads OpenMetrics text: %s"
	iconv := "convert it to UTF-8 first, e.g. iconv -f UTF-16 -t UTF-8"
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, fmt.Sprintf(reads, "empty (0 bytes)",
			`samples of istio_requests_total{reporter="destination"} with timestamps, ending in a "# EOF" line (docs/scenarios.md)`)},
		{"gzip", gzipped(t, text), fmt.Sprintf(reads, "gzip-compressed", "gunzip it first")},
		{"zstd", []byte("\x28\xb5\x2f\xfd\x04\x58\x00\x00"), fmt.Sprintf(reads, "zstd-compressed", "unzstd it first")},
		{"bzip2", []byte("BZh91AY&SY\x00\x01"), fmt.Sprintf(reads, "bzip2-compressed", "bunzip2 it first")},
		{"xz", []byte("\xfd7zXZ\x00\x00\x04"), fmt.Sprintf(reads, "xz-compressed", "unxz it first")},
		{"zip", []byte("PK\x03\x04\x14\x00"), fmt.Sprintf(reads, "a zip archive", "unzip it first")},
		{"UTF-16LE", utf16le(text, true), fmt.Sprintf(reads, "UTF-16 text (as Windows PowerShell's > writes)", iconv)},
		{"UTF-16BE", []byte("\xfe\xff\x00#\x00 "), fmt.Sprintf(reads, "UTF-16 text (as Windows PowerShell's > writes)", iconv)},
		{"UTF-16LE without a byte order mark", utf16le(text, false), fmt.Sprintf(reads, "UTF-16 text", iconv)},
		{"UTF-16BE without a byte order mark", []byte("\x00#\x00 \x00H"), fmt.Sprintf(reads, "UTF-16 text", iconv)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadMetrics(bytes.NewReader(tc.data), "test.om", options(t))
			if err == nil {
				t.Fatal("read, want an error")
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReadMetricsTextLikeMagic: text that starts like a compressed
// file's magic number is still text.
func TestReadMetricsTextLikeMagic(t *testing.T) {
	for _, metric := range []string{"BZh9_requests_total", "PK_requests_total"} {
		o := options(t)
		p := config.Default().Metrics.Prometheus
		p.Metric = metric
		names, err := NamesFor(p)
		if err != nil {
			t.Fatal(err)
		}
		o.Names = names
		text := strings.ReplaceAll(strings.TrimPrefix(om(dst("cart", "cart-a", "200").run(0, 60, 0, 10)), header),
			"istio_requests_total", metric)
		m, err := ReadMetrics(strings.NewReader(text), "test.om", o)
		if err != nil || m.Samples != 5 {
			t.Errorf("%s: %v; want 5 samples read", metric, err)
		}
	}
}

// TestReadMetricsLineEndings: a file saved with CRLF line endings (or a
// UTF-8 byte order mark, as some Windows editors write) reads exactly as
// the same file with LF; errors name the same lines.
func TestReadMetricsLineEndings(t *testing.T) {
	var lines []string
	for i, code := range []string{"200", "503"} {
		lines = append(lines, dst("cart", fmt.Sprintf("cart-%d", i), code).run(0, 600, 0, float64(10+i))...)
	}
	lf := om(lines)
	want, err := ReadMetrics(strings.NewReader(lf), "test.om", options(t))
	if err != nil {
		t.Fatal(err)
	}
	crlf := strings.ReplaceAll(lf, "\n", "\r\n")
	mixed := strings.Replace(lf, "\n", "\r\n", 40)
	for _, tc := range []struct{ name, text string }{
		{"CRLF", crlf},
		{"CRLF without a newline after # EOF", strings.TrimSuffix(crlf, "\r\n")},
		{"mixed", mixed},
		{"UTF-8 byte order mark", utf8BOM + lf},
		{"UTF-8 byte order mark and CRLF", utf8BOM + crlf},
	} {
		// Small chunks put "\r\n" at every place of a chunk boundary.
		for _, chunk := range []int{0, 97, 98, 99, 100} {
			got, err := ReadMetrics(strings.NewReader(tc.text), "test.om", withChunk(options(t), chunk))
			if err != nil {
				t.Fatalf("%s, chunk %d: %v", tc.name, chunk, err)
			}
			for sec := 0; sec <= 600; sec += 60 {
				if diff := cmp.Diff(observe(t, want, at(sec)), observe(t, got, at(sec))); diff != "" {
					t.Fatalf("%s, chunk %d: observation at %d s (-LF +%s):\n%s", tc.name, chunk, sec, tc.name, diff)
				}
			}
			if got.Samples != want.Samples || got.First != want.First || got.Last != want.Last {
				t.Errorf("%s, chunk %d: %d samples %s to %s, want %d %s to %s", tc.name, chunk,
					got.Samples, got.First, got.Last, want.Samples, want.First, want.Last)
			}
		}
	}
	// A stray carriage return is not a line ending: an error at its line.
	stray := strings.Replace(crlf, " 20 ", " 20\r ", 1)
	_, err = ReadMetrics(strings.NewReader(stray), "test.om", options(t))
	line := strings.Count(stray[:strings.Index(stray, " 20\r ")], "\n") + 1
	if err == nil || !strings.HasPrefix(err.Error(), fmt.Sprintf("test.om:%d: ", line)) {
		t.Errorf("stray carriage return: error %v, want one at test.om:%d", err, line)
	}
}

// TestReadObjectsNotText: objects.yaml that is not text is named for what
// it is; a UTF-8 byte order mark is read past.
func TestReadObjectsNotText(t *testing.T) {
	doc := obj{}.String()
	const reads = "objects.yaml: %s; sentinel reads YAML or JSON text (kubectl get -o yaml or -o json): %s"
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"gzip", gzipped(t, doc), fmt.Sprintf(reads, "gzip-compressed", "gunzip it first")},
		{"UTF-16LE", utf16le(doc, true), fmt.Sprintf(reads, "UTF-16 text (as Windows PowerShell's > writes)",
			"convert it to UTF-8 first, e.g. iconv -f UTF-16 -t UTF-8")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadObjects(bytes.NewReader(tc.data), "objects.yaml")
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v, want %s", err, tc.want)
			}
		})
	}
	for _, text := range []string{utf8BOM + doc, utf8BOM + `{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "cart", ` +
		`"namespace": "shop", "creationTimestamp": "2026-03-09T16:00:00Z"}, "spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}`} {
		objs, err := ReadObjects(strings.NewReader(text), "objects.yaml")
		if err != nil || len(objs) != 1 || objs[0].Line != 1 {
			t.Errorf("after a byte order mark: %d objects, error %v; want one at line 1", len(objs), err)
		}
	}
}
