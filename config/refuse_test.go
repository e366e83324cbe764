package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// parseErr parses a document and returns its error's text, "" if none.
func parseErr(t *testing.T, doc string, checks ...Check) string {
	t.Helper()
	if _, err := Parse([]byte(doc), checks...); err != nil {
		return err.Error()
	}
	return ""
}

// Every status code from 100 to 599 is tried: a pattern must match some
// 5xx and no 1xx, 2xx or 3xx. 4xx may count (the docs' 5\d\d|429).
func TestFailureCodes(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		want    string // "" accepted, else what the message says it matches
	}{
		{"5..", ""},
		{"5[0-9][0-9]", ""},
		{`5\d\d`, ""},
		{`5\d\d|429`, ""},
		{"50[234]", ""},
		{"503|504", ""},
		{"500", ""},
		{"5.*", ""}, // anchored: 5xx only, among 100-599
		{"^5..$", ""},
		{"(5..)?", ""},
		{"[45]..", ""},
		{`\x35..`, ""}, // an "x" that is not a placeholder
		{"5xx", `"5xx" matches no status code from 100 to 599, so no server error would count as a failure`},
		{"5XX", `"5XX" matches no status code from 100 to 599`},
		{"5**", `invalid regular expression "5**": error parsing regexp: invalid nested repetition operator: ` + "`**`" + `; did you mean "5.."?`},
		{".5..", `".5.." matches no status code from 100 to 599`},
		{"4..", `"4.." matches every 4xx code and no 5xx`},
		{"429", `"429" matches 429 and no 5xx`},
		{"1..", `"1.." matches every 1xx code and no 5xx`},
		{".*", `".*" matches every 1xx, 2xx, 3xx, 4xx and 5xx code, so successful requests would count as failures and every workload would page`},
		{"...", `"..." matches every 1xx, 2xx, 3xx, 4xx and 5xx code`},
		{"[0-9]+", `"[0-9]+" matches every 1xx, 2xx, 3xx, 4xx and 5xx code`},
		{`\d{3}`, `"\\d{3}" matches every 1xx, 2xx, 3xx, 4xx and 5xx code`},
		{"[^2]..", `"[^2].." matches every 1xx, 3xx, 4xx and 5xx code`},
		{"5..|2..", `"5..|2.." matches every 2xx and 5xx code`},
		{"5..|200", `"5..|200" matches every 5xx code and 200`},
		{"5..|30[12]", `"5..|30[12]" matches every 5xx code, 301 and 302`},
		{"20[0-4]|5..", `"20[0-4]|5.." matches every 5xx code and 5 2xx codes from 200 to 204`},
	} {
		t.Run(tc.pattern, func(t *testing.T) {
			err := checkCodes(tc.pattern)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
				t.Errorf("got %v\nwant it to begin %s", err, tc.want)
			}
		})
	}
}

// The pattern suggested is the one written with x for a digit when that
// one is good, else the default.
func TestFailureCodesSuggestion(t *testing.T) {
	for pattern, want := range map[string]string{
		"5xx":      `did you mean "5.." (`,
		"5XX|429":  `did you mean "5..|429" (`,
		"50x|429":  `did you mean "50.|429" (`,
		"2xx":      `did you mean "5.." (`, // 2.. is no better
		"5..|2..":  `did you mean "5.." (`,
		"[0-9]{3}": `did you mean "5.." (`,
	} {
		if err := checkCodes(pattern); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %s", pattern, err, want)
		}
	}
}

// Below the floor only detection.poll_interval is blamed; above it,
// query_delay and the timeout are measured against it as before.
func TestPollIntervalFloor(t *testing.T) {
	floor := "detection.poll_interval: must be at least 1s (each poll is a query, and no metric is scraped more often), got "
	for _, tc := range []struct{ doc, want string }{
		{"detection:\n  poll_interval: 1ms\n", floor + "1ms"},
		{"detection:\n  poll_interval: 999ms\n", floor + "999ms"},
		{"detection:\n  poll_interval: -15s\n", floor + "-15s"},
		{"detection:\n  poll_interval: 1ms\nmetrics:\n  query_delay: -1s\n", floor + "1ms\nmetrics.query_delay: must not be negative, got -1s"},
		{"detection:\n  poll_interval: 1s\n  rate_window: 2s\nmetrics:\n  query_delay: 0s\n  prometheus:\n    timeout: 900ms\n", ""},
		{"detection:\n  poll_interval: 1s\n", "metrics.query_delay: must be shorter than detection.poll_interval (1s), got 5s"},
		{"detection:\n  poll_interval: 1s\nmetrics:\n  query_delay: 0s\n",
			"metrics.prometheus.timeout: with metrics.query_delay (0s) must be shorter than detection.poll_interval (1s), or a slow answer makes sentinel skip polls; got 9s"},
	} {
		if got := parseErr(t, tc.doc); got != tc.want {
			t.Errorf("%q:\n got %q\nwant %q", tc.doc, got, tc.want)
		}
	}
	if MinPollInterval != time.Second {
		t.Errorf("MinPollInterval = %s; the messages above and the docs say 1s", MinPollInterval)
	}
}

// Only the first document is decoded, so a file with more is refused;
// empty documents after the last one with content are not counted.
func TestDocuments(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"detection:\n  threshold: 0.4\n", ""},
		{"---\ndetection:\n  threshold: 0.4\n", ""},
		{"detection:\n  threshold: 0.4\n---\n", ""},
		{"detection:\n  threshold: 0.4\n---\n# nothing here\n", ""},
		{"detection:\n  threshold: 0.4\n...\n", ""},
		{"detection:\n  threshold: 0.4\n---\n~\n", ""},
		{"", ""},
		{"detection:\n  threshold: 0.4\n---\ndetection:\n  threshold: 0.3\n", "2 YAML documents; sentinel reads one"},
		{"---\n---\ndetection:\n  threshold: 0.3\n", "2 YAML documents; sentinel reads one"},
		{"a: 1\n---\nb: 2\n---\nc: 3\n---\n", "3 YAML documents; sentinel reads one\na: unknown key (line 1)"},
		{"detection:\n  threshold: 0.4\n...\n---\nrollback:\n  enabled: false\n", "2 YAML documents; sentinel reads one"},
		{"detection:\n  threshold: 0.4\n---\nrollback: [\n", "parse: yaml: line 4: did not find expected node content"},
	} {
		if got := parseErr(t, tc.doc); got != tc.want {
			t.Errorf("%q:\n got %q\nwant %q", tc.doc, got, tc.want)
		}
	}
}

// A routing key file is read at check time when PagerDuty is on, as run
// reads it at start.
func TestRoutingKeyFile(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	empty := filepath.Join(dir, "empty")
	for name, body := range map[string]string{key: "R0UT1NGK3Y0000000000000000000000\n", empty: " \n"} {
		if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		enabled bool
		file    string
		want    string
	}{
		{true, key, ""},
		{true, missing, "paging.pagerduty.routing_key_file: read secret file: open " + missing + ": no such file or directory"},
		{true, empty, "paging.pagerduty.routing_key_file: secret file " + empty + " is empty"},
		{true, dir, "paging.pagerduty.routing_key_file: read secret file: read " + dir + ": is a directory"},
		{false, missing, ""}, // never read
	} {
		c := Default()
		c.Paging.PagerDuty.Enabled, c.Paging.PagerDuty.RoutingKeyFile = tc.enabled, tc.file
		got := ""
		if err := c.Validate(); err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("enabled %v, file %s:\n got %q\nwant %q", tc.enabled, tc.file, got, tc.want)
		}
	}
	if strings.Contains(parseErr(t, "paging:\n  pagerduty:\n    enabled: true\n    routing_key_file: "+key+"\n"), "R0UT1NGK3Y") {
		t.Error("the key was printed")
	}
}

// reporter_selector is parsed with Prometheus's parser as the query will
// use it.
func TestReporterSelector(t *testing.T) {
	for _, tc := range []struct{ sel, want string }{
		{`reporter="destination"`, ""},
		{`reporter="destination",`, ""}, // PromQL allows the trailing comma
		{`reporter=~"dest.*", source_workload!="probe"`, ""},
		{`   `, ""},
		{`reporter=destination`, `unexpected identifier "destination" in label matching, expected string`},
		{`reporter="destination`, `unterminated quoted string`},
		{`{reporter="destination"}`, `unexpected left brace '{'`},
		{`reporter="destination"}`, `unexpected character: '}'`},
		{`reporter="a" source="b"`, `unexpected identifier "source" in label matching, expected "," or "}"`},
		{`reporter=~"(("`, "error parsing regexp: missing closing ): `((`"},
	} {
		c := Default()
		c.Metrics.Prometheus.ReporterSelector = tc.sel
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.sel, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), "metrics.prometheus.reporter_selector: ") || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want metrics.prometheus.reporter_selector: ...%s", tc.sel, err, tc.want)
		}
	}
	// Another source does not use it.
	c := Default()
	c.Metrics.Source, c.Metrics.Prometheus.ReporterSelector = "datadog", "reporter=destination"
	if err := c.Validate(); err != nil {
		t.Errorf("datadog source: %v", err)
	}
}

// Checks run on an otherwise valid configuration, each problem once.
func TestChecksRunOnValidConfigs(t *testing.T) {
	ran := 0
	check := func(Config) error { ran++; return errors.New("metrics.prometheus.query: broken") }
	if got := parseErr(t, "detection:\n  threshold: 0.4\n", check, check); got != "metrics.prometheus.query: broken\nmetrics.prometheus.query: broken" || ran != 2 {
		t.Errorf("valid config: %q after %d checks", got, ran)
	}
	ran = 0
	if got := parseErr(t, "detection:\n  threshold: 0\n", check); got != "detection.threshold: must be above 0, got 0" || ran != 0 {
		t.Errorf("invalid config: %q after %d checks", got, ran)
	}
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p, check); err == nil || err.Error() != p+": metrics.prometheus.query: broken" {
		t.Errorf("Load: %v", err)
	}
}
