package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestRepositoryConfigIsTheDefaults(t *testing.T) {
	c, err := Load(filepath.Join("..", "config.yaml"))
	if err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	// config.yaml spells out every default: loading it must change nothing.
	if diff := cmp.Diff(Default(), c, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("config.yaml differs from the defaults (-want +got):\n%s", diff)
	}
}

func TestDefaults(t *testing.T) {
	d := Default().Detection
	for name, tc := range map[string]struct{ got, want any }{
		"poll interval":    {d.PollInterval, 15 * time.Second},
		"rate window":      {d.RateWindow, time.Minute},
		"threshold":        {d.Threshold, 0.5},
		"for":              {d.For, 30 * time.Second},
		"volume floor":     {d.MinRequestRate, 0.5},
		"failure codes":    {d.FailureCodes, "5.."},
		"resolve after":    {d.ResolveAfter, 3 * time.Minute},
		"link window":      {d.LinkWindow, 15 * time.Minute},
		"cooldown":         {Default().Rollback.Cooldown, 30 * time.Minute},
		"max per incident": {Default().Rollback.MaxPerIncident, 1},
		"healthy for":      {Default().Rollback.Healthy.MinDuration, 5 * time.Minute},
		"healthy ratio":    {Default().Rollback.Healthy.MaxErrorRatio, 0.05},
		"trusted":          {strings.Join(Default().Rollback.TrustedManagers, ","), "helm,helm-controller,kustomize-controller,argocd-controller,argocd-application-controller"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", name, tc.got, tc.want)
		}
	}
	if err := Default().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
}

// Each broken config in testdata breaks one rule; the message is exact.
func TestBrokenConfigs(t *testing.T) {
	cases := map[string][]string{
		"threshold.bad.yaml":          {"detection.threshold: must be below 1 (a failure ratio is never above 1, so it could never page), got 1.5"},
		"threshold-zero.bad.yaml":     {"detection.threshold: must be above 0, got 0"},
		"threshold-negative.bad.yaml": {"detection.threshold: must be above 0, got -0.2"},
		"threshold-one.bad.yaml":      {"detection.threshold: must be below 1 (a failure ratio is never above 1, so it could never page), got 1"},
		"threshold-nan.bad.yaml":      {"detection.threshold: must be a number above 0 and below 1, got NaN"},
		"poll-interval.bad.yaml":      {"detection.poll_interval: must be at least 1s (each poll is a query, and no metric is scraped more often), got 0s"},
		// Only the interval is blamed, not metrics.query_delay measured against it.
		"poll-interval-tiny.bad.yaml":   {"detection.poll_interval: must be at least 1s (each poll is a query, and no metric is scraped more often), got 1ms"},
		"rate-window.bad.yaml":          {"detection.rate_window: must be at least twice detection.poll_interval (1m0s), got 1m0s"},
		"for.bad.yaml":                  {"detection.for: must not be negative, got -1s"},
		"min-request-rate.bad.yaml":     {"detection.min_request_rate: must be positive (requests per second), got 0"},
		"min-request-rate-inf.bad.yaml": {"detection.min_request_rate: must be finite (requests per second), got +Inf"},
		"failure-codes.bad.yaml":        {"detection.failure_codes: invalid regular expression \"5((\": error parsing regexp: missing closing ): `^(?:5(()$`"},
		"failure-codes-5xx.bad.yaml": {"detection.failure_codes: \"5xx\" matches no status code from 100 to 599, so no server error would count as a failure " +
			"and an outage would never page; did you mean \"5..\" (a regular expression matched against the whole code)?"},
		"failure-codes-4xx.bad.yaml": {"detection.failure_codes: \"4..\" matches every 4xx code and no 5xx, so no server error would count as a failure " +
			"and an outage would never page; did you mean \"5..\" (a regular expression matched against the whole code)?"},
		"failure-codes-success.bad.yaml": {"detection.failure_codes: \".*\" matches every 1xx, 2xx, 3xx, 4xx and 5xx code, so successful requests would count " +
			"as failures and every workload would page; did you mean \"5..\" (a regular expression matched against the whole code)?"},
		"resolve-after.bad.yaml":      {"detection.resolve_after: must be positive, got 0s"},
		"link-window.bad.yaml":        {"detection.link_window: must be positive, got 0s"},
		"trusted-managers.bad.yaml":   {"rollback.trusted_managers[1]: must not be empty"},
		"cooldown.bad.yaml":           {"rollback.cooldown: must not be negative, got -5m0s"},
		"max-per-incident.bad.yaml":   {"rollback.max_per_incident: must be 0 or 1, got -1"},
		"healthy-duration.bad.yaml":   {"rollback.healthy.min_duration: must be positive, got 0s"},
		"healthy-ratio.bad.yaml":      {"rollback.healthy.max_error_ratio: must be below detection.threshold (0.5), got 0.6"},
		"opt-out-namespace.bad.yaml":  {"rollback.opt_out.namespaces[0]: must be a namespace name, got \"a/b\""},
		"opt-out-deployment.bad.yaml": {"rollback.opt_out.deployments[0]: must be namespace/name, got \"web\""},
		"runbook.bad.yaml":            {"paging.runbook_url: must be an http(s) URL, got \"docs/runbook.md\""},
		"guard-identities.bad.yaml": {
			"guard.identities.argocd-controller: must name at least one user, group or service account; to let no one write as argocd-controller, remove it from rollback.trusted_managers",
			"guard.identities.helm.users[0]: must be a user name without surrounding spaces, got \"\"",
			"guard.identities.helm.users[1]: \"system:serviceaccount:ci\" is no ServiceAccount's user name (system:serviceaccount:NAMESPACE:NAME); list ServiceAccounts as namespace/name under service_accounts",
			"guard.identities.helm.groups[0]: must be a group name without surrounding spaces, got \" ci-deployers\"",
			"guard.identities.helm.service_accounts[0]: must be namespace/name of a ServiceAccount, got \"ci:deployer\"",
			"guard.identities.helm.service_accounts[1]: must be namespace/name of a ServiceAccount, got \"Bad_NS/deployer\"",
		},
		"guard-unknown-key.bad.yaml": {
			"guard.identities.helm.service_account: unknown key (line 4)",
			"guard.identities.helm: must name at least one user, group or service account; to let no one write as helm, remove it from rollback.trusted_managers",
		},
		"guard-wrong-type.bad.yaml": {"guard.identities: want a mapping of field managers to their users, groups and service_accounts, got !!seq (line 2)"},
		"cluster-name.bad.yaml":     {"paging.cluster_name: must be a name without surrounding spaces or line breaks, got \" prod-eu-1\""},
		"unknown-key.bad.yaml":      {"detection.treshold: unknown key (line 2)"},
		"unknown-section.bad.yaml":  {"alerting: unknown key (line 1)"},
		"wrong-type.bad.yaml":       {"detection.for: want a duration such as 15s, 5m or 1h30m, got !!str `soon` (line 2)"},
		"wrong-type-int.bad.yaml":   {"detection.poll_interval: want a duration such as 15s, 5m or 1h30m, got !!int `15` (line 2)"},
		"out-of-range.bad.yaml": {
			"detection.threshold: out of range: 1e309 is not a finite number (beyond ±1.8e308) (line 2)",
			"detection.for: out of range: 3000000h is beyond ±2562047h47m16.854775807s, the longest duration (line 3)",
			"rollback.max_per_incident: out of range: 99999999999999999999 is beyond ±9223372036854775807 (line 5)",
		},
		"two-documents.bad.yaml": {"2 YAML documents; sentinel reads one"},
		"wrong-types.bad.yaml": {
			"detection.threshold: want a number, got !!str `high` (line 2)",
			"rollback.trusted_managers: want a list of strings, got !!str `helm` (line 4)",
			"rollback.opt_out.deployments: want a list of strings, got !!int `3` (line 5)",
			"run.leader_election.enabled: want true or false, got !!str `maybe` (line 8)",
		},
		"kubernetes.bad.yaml": {
			"kubernetes.namespaces[0]: invalid namespace \"Bad_NS\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
			"kubernetes.label_selector: unable to parse requirement: found '', expected: ',', ')' or identifier",
			"kubernetes.verify_timeout: must be positive, got 0s",
		},
		"metrics-source.bad.yaml": {"metrics.source: must be prometheus or datadog, got \"influx\""},
		"prometheus.bad.yaml": {
			"metrics.prometheus.url: must be an http(s) URL, got \"prometheus:9090\"",
			"metrics.prometheus.workload_label: must be a Prometheus name, got \"bad-label\"",
			"metrics.prometheus.bearer_token_file: cannot be used with basic_auth",
		},
		"pagerduty.bad.yaml": {
			"paging.pagerduty: routing_key_file or routing_key_env must be set",
			"paging.pagerduty.severity: must be critical, error, warning or info, got \"page\"",
			"paging.pagerduty.queue_size: must be at least 1, got 0",
		},
		"paging-urls.bad.yaml": {
			"paging.pagerduty.url: must be the Events API v2 endpoint ending in /v2/enqueue, got \"https://events.pagerduty.com/v1/enqueue\"",
			"paging.dashboard_url: template: dashboard_url:1: unclosed action",
		},
		"dashboard-field.bad.yaml": {"paging.dashboard_url: only {{.Namespace}} and {{.Workload}} can be used: template: dashboard_url:1:37: " +
			"executing \"dashboard_url\" at <.Namespce>: can't evaluate field Namespce in type struct { Namespace string; Workload string }"},
		"routing-key-file.bad.yaml": {"paging.pagerduty.routing_key_file: read secret file: open testdata/no-such-routing-key: no such file or directory"},
		"reporter-selector.bad.yaml": {"metrics.prometheus.reporter_selector: must be PromQL label matchers without braces, such as reporter=\"destination\"; " +
			"series selector \"istio_requests_total{reporter=destination}\": 1:31: parse error: unexpected identifier \"destination\" in label matching, expected string"},
		"query-delay.bad.yaml":          {"metrics.query_delay: must be shorter than detection.poll_interval (15s), got 20s"},
		"query-delay-negative.bad.yaml": {"metrics.query_delay: must not be negative, got -1s"},
		"timeout-poll.bad.yaml":         {"metrics.prometheus.timeout: with metrics.query_delay (5s) must be shorter than detection.poll_interval (15s), or a slow answer makes sentinel skip polls; got 14m0s"},
		// Every problem at once, unknown keys and invalid values together.
		"many.bad.yaml": {
			"detection.tresh: unknown key (line 3)",
			"detection.poll_interval: must be at least 1s (each poll is a query, and no metric is scraped more often), got 0s",
			"detection.threshold: must be below 1 (a failure ratio is never above 1, so it could never page), got 2",
			"rollback.cooldown: must not be negative, got -1s",
		},
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.bad.yaml"))
	if len(files) != len(cases) {
		t.Errorf("%d broken configs in testdata, %d cases: keep them in step", len(files), len(cases))
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name)
			_, err := Load(path)
			if err == nil {
				t.Fatal("loaded without error")
			}
			var lines []string
			for _, w := range want {
				lines = append(lines, path+": "+w)
			}
			if got := err.Error(); got != strings.Join(lines, "\n") {
				t.Errorf("error:\n%s\nwant:\n%s", got, strings.Join(lines, "\n"))
			}
		})
	}
}

func TestParseOverridesOnlyWhatIsGiven(t *testing.T) {
	c, err := Parse([]byte("detection:\n  threshold: 0.8\nrollback:\n  dry_run: true\n  opt_out:\n    deployments: [shop/cart]\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Detection.Threshold = 0.8
	want.Rollback.DryRun = true
	want.Rollback.OptOut.Deployments = []string{"shop/cart"}
	if diff := cmp.Diff(want, c, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("overrides applied and defaults kept (-want +got):\n%s", diff)
	}
	if c.Detection.For != 30*time.Second || c.Rollback.Cooldown != 30*time.Minute {
		t.Errorf("defaults lost: for %v cooldown %v, want 30s and 30m", c.Detection.For, c.Rollback.Cooldown)
	}
	if !c.Rollback.OptedOut("shop", "cart") || c.Rollback.OptedOut("shop", "web") {
		t.Error("OptedOut does not follow opt_out.deployments")
	}
}

func TestEmptyFileIsTheDefaults(t *testing.T) {
	p := filepath.Join(t.TempDir(), "empty.yaml")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Default(), c, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("empty file differs from the defaults (-want +got):\n%s", diff)
	}
}

func TestCompileCodesIsAnchored(t *testing.T) {
	re, err := CompileCodes("5..")
	if err != nil {
		t.Fatal(err)
	}
	for code, want := range map[string]bool{"500": true, "503": true, "404": false, "200": false, "1500": false, "5000": false, "": false} {
		if got := re.MatchString(code); got != want {
			t.Errorf("%q matched %v, want %v", code, got, want)
		}
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	t.Setenv("SENTINEL_TEST_KEY", "  R0UT1NGKEY \n")
	s, err := ReadSecret("", "SENTINEL_TEST_KEY")
	if err != nil {
		t.Fatal(err)
	}
	if s.Reveal() != "R0UT1NGKEY" {
		t.Errorf("revealed %q", s.Reveal())
	}
	for _, out := range []string{s.String(), fmt.Sprintf("%v %s %+v %#v", s, s, s, s)} {
		if strings.Contains(out, "R0UT1NGKEY") {
			t.Errorf("secret printed: %s", out)
		}
	}
	if _, err := ReadSecret("", "SENTINEL_TEST_UNSET"); err == nil || err.Error() != "environment variable SENTINEL_TEST_UNSET is not set" {
		t.Errorf("unset env: %v", err)
	}
	f := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(f, []byte("FILEKEY\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := ReadSecret(f, "SENTINEL_TEST_KEY"); err != nil || s.Reveal() != "FILEKEY" {
		t.Errorf("file secret %v, %v", s, err)
	}
}

func TestOptedOut(t *testing.T) {
	cases := []struct {
		value   *string
		want    bool
		wantErr string
	}{
		{value: nil, want: false},
		{value: ptr("false"), want: true},
		{value: ptr("False"), want: true},
		{value: ptr(" FALSE "), want: true},
		{value: ptr("0"), want: true},
		{value: ptr("true"), want: false},
		{value: ptr("T"), want: false},
		{value: ptr("no"), want: true, wantErr: `annotation sentinel.dev/rollback="no": want true or false; taken as opted out`},
		{value: ptr(""), want: true, wantErr: `annotation sentinel.dev/rollback="": want true or false; taken as opted out`},
	}
	for _, tc := range cases {
		a := map[string]string{}
		if tc.value != nil {
			a[OptOutAnnotation] = *tc.value
		}
		got, err := OptedOut(a)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tc.want || gotErr != tc.wantErr {
			t.Errorf("OptedOut(%q) = %v, %q; want %v, %q", a, got, gotErr, tc.want, tc.wantErr)
		}
	}
}

func ptr(s string) *string { return &s }
