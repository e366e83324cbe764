package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/engine"
	"github.com/sentinel-sre/sentinel/notify"
	"github.com/sentinel-sre/sentinel/replay/backtest"
	"github.com/sentinel-sre/sentinel/replay/scenario"
	"github.com/sentinel-sre/sentinel/source/datadog"
	"github.com/sentinel-sre/sentinel/source/prometheus"
)

// progressAfter is the number of polls above which a progress bar is
// shown: longer than an hour at the default poll interval.
const progressAfter = 240

// historyFlags say where the change history comes from.
type historyFlags struct {
	objects, kubeconfig string
	namespace, workload string
}

func (h *historyFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&h.objects, "objects", "", "change history from this objects.yaml (the recording format)")
	cmd.Flags().StringVar(&h.kubeconfig, "kubeconfig", "", "change history from the cluster of this kubeconfig (ReplicaSets and managedFields)")
	cmd.MarkFlagsMutuallyExclusive("objects", "kubeconfig")
	cmd.MarkFlagsOneRequired("objects", "kubeconfig")
}

// stream returns the change history as an objects.yaml stream.
func (h *historyFlags) stream(ctx context.Context, cfg config.Config, to time.Time) ([]byte, error) {
	if h.objects != "" {
		objs, err := scenario.ReadObjectsFile(h.objects)
		if err != nil {
			return nil, err
		}
		return selectObjects(objs, h.namespace, h.workload, to)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", h.kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig %s: %w", h.kubeconfig, err)
	}
	c, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig %s: %w", h.kubeconfig, err)
	}
	scope := backtest.Scope{Namespaces: cfg.Kubernetes.Namespaces, Workload: h.workload,
		LabelSelector: cfg.Kubernetes.LabelSelector}
	if h.namespace != "" {
		scope.Namespaces = []string{h.namespace}
	}
	return backtest.FromCluster(ctx, c, scope)
}

// holdsNone says where no Deployment or ReplicaSet was found up to to.
func (h *historyFlags) holdsNone(to time.Time) string {
	if h.objects == "" {
		return "the cluster of --kubeconfig " + h.kubeconfig + " has no Deployment in scope (kubernetes.namespaces, kubernetes.label_selector)"
	}
	if st, err := os.Stat(h.objects); err == nil && st.Size() == 0 {
		return "--objects " + h.objects + " is empty (0 bytes)"
	}
	return fmt.Sprintf("--objects %s holds no Deployment or ReplicaSet observed by --to %s", h.objects, to.Format(time.RFC3339))
}

// rangeFlags are --from and --to.
type rangeFlags struct{ from, to string }

func (r *rangeFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&r.from, "from", "", "start of the range (RFC 3339, e.g. 2026-04-24T22:00:00Z)")
	cmd.Flags().StringVar(&r.to, "to", "", "end of the range (RFC 3339); at most now minus metrics.query_delay")
	cmd.MarkFlagRequired("from")
	cmd.MarkFlagRequired("to")
}

// parse returns the range, the end capped at now minus the query delay:
// later instants had not all been scraped when the daemon would have
// asked.
func (r *rangeFlags) parse(now time.Time, delay time.Duration, stderr io.Writer) (from, to time.Time, err error) {
	if from, err = time.Parse(time.RFC3339, r.from); err != nil {
		return from, to, fmt.Errorf("--from %q: want RFC 3339 such as 2026-04-24T22:00:00Z", r.from)
	}
	if to, err = time.Parse(time.RFC3339, r.to); err != nil {
		return from, to, fmt.Errorf("--to %q: want RFC 3339 such as 2026-04-25T01:00:00Z", r.to)
	}
	if latest := now.Add(-delay); to.After(latest) {
		fmt.Fprintf(stderr, "sentinel: --to %s is later than now minus metrics.query_delay; ending at %s\n",
			to.UTC().Format(time.RFC3339), latest.UTC().Format(time.RFC3339))
		to = latest
	}
	if !from.Before(to) {
		return from, to, fmt.Errorf("--from %s must be before --to %s", from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	}
	return from.UTC(), to.UTC(), nil
}

// backtestFlags are backtest's flags.
type backtestFlags struct {
	cfgPath, promURL, output string
	useDatadog, progress     bool
	maxPolls                 int
	rng                      rangeFlags
	hist                     historyFlags
	ex                       explainFlags
}

// defaultMaxPolls is the longest range backtest runs unless --max-polls
// says more: 1,000,000 polls is 174 days at the default 15 s interval,
// far past any incident, and a mistyped year is caught.
const defaultMaxPolls = 1_000_000

func newBacktest(now func() time.Time) *cobra.Command {
	var f backtestFlags
	cmd := &cobra.Command{
		Use:   "backtest (--prometheus URL | --datadog) --from RFC3339 --to RFC3339 (--objects FILE | --kubeconfig FILE)",
		Short: "Replay a past range of live metrics and the change history: what sentinel would have done",
		Long: `Runs the daemon's exact query over a past range (Prometheus query_range at
step = detection.poll_interval on the daemon's poll grid, or Datadog's
timeseries API), with the change history from a recording's objects.yaml or
from the cluster, through the same engine as simulate. Prints the actions,
then per workload the pages, would-be rollbacks and time from first failing
poll to page, and the workloads that would have paged more than once a day.`,
		Example: "  sentinel backtest --prometheus http://prometheus:9090 --from 2026-04-24T22:00:00Z --to 2026-04-25T02:00:00Z --kubeconfig ~/.kube/config\n" +
			"  sentinel backtest --prometheus http://localhost:9090 --from 2026-04-24T22:00:00Z --to 2026-04-25T02:00:00Z --objects examples/mli-6574/objects.yaml --report mli.html",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return f.run(cmd, now()) },
	}
	cmd.Flags().StringVar(&f.promURL, "prometheus", "", "Prometheus base URL (overrides metrics.prometheus.url)")
	cmd.Flags().BoolVar(&f.useDatadog, "datadog", false, "ask Datadog (metrics.datadog in the config; keys from DD_API_KEY and DD_APP_KEY)")
	cmd.Flags().StringVar(&f.cfgPath, "config", "", "configuration file (default: built-in defaults)")
	cmd.Flags().StringVarP(&f.output, "output", "o", "text", "output format: text, json or pagerduty")
	cmd.Flags().BoolVar(&f.progress, "progress", false, "show progress on stderr even when it is not a terminal")
	cmd.Flags().IntVar(&f.maxPolls, "max-polls", defaultMaxPolls, "refuse a range of more polls than this (0: no limit); raise it to run a longer one")
	f.rng.add(cmd)
	f.hist.add(cmd)
	f.ex.add(cmd)
	return cmd
}

// run backtests the range the flags name. Everything the flags can get
// wrong is checked before the history is read or a query sent.
func (f *backtestFlags) run(cmd *cobra.Command, now time.Time) error {
	ctx, out, stderr := cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	cfg, from, to, err := f.config(now, stderr)
	if err != nil {
		return err
	}
	start := engine.PollAt(from, cfg.Detection.PollInterval)
	polls := int(to.Sub(start)/cfg.Detection.PollInterval) + 1
	if f.maxPolls > 0 && polls > f.maxPolls {
		return f.tooLong(from, to, polls, cfg.Detection.PollInterval)
	}
	n, err := notifier(f.output, out, cfg)
	if err != nil {
		return err
	}
	x, err := f.ex.start(cfg, traceTo(f.output, cmd), fmt.Sprintf("sentinel backtest %s to %s", from.Format(time.RFC3339), to.Format(time.RFC3339)))
	if err != nil {
		return err
	}
	defer x.close()
	objects, err := f.history(ctx, cfg, to, stderr)
	if err != nil {
		return err
	}
	x.known(scenario.Deployments(objects))
	src, query, err := rangeSource(ctx, cfg, start, to)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "sentinel: backtest query: %s\n", query)
	var bar func(done, total int)
	if f.progress || isTerminal(stderr) {
		bar = progress(stderr, polls)
	}
	got := &notify.Collect{}
	res, err := backtest.Run(ctx, backtest.Options{Config: cfg, Source: src, Start: start, End: to,
		Objects: objects, Notifier: notify.Tee{n, got}, EngineOptions: x.options, Progress: bar})
	if err != nil {
		return err
	}
	if f.output == "text" {
		if err := backtest.WriteSummary(out, res, got.Actions); err != nil {
			return fmt.Errorf("write summary: %w", err)
		}
	}
	return x.finish(objects, got.Actions, fmt.Sprintf("the backtest (its change history and the answers to its %s)",
		count(res.Polls, "poll", "polls")))
}

// config is the configuration the flags ask for, and the range.
func (f *backtestFlags) config(now time.Time, stderr io.Writer) (cfg config.Config, from, to time.Time, err error) {
	if (f.promURL == "") == !f.useDatadog {
		return cfg, from, to, errors.New("want exactly one of --prometheus URL and --datadog")
	}
	if cfg, err = loadConfig(f.cfgPath); err != nil {
		return cfg, from, to, err
	}
	if f.promURL != "" {
		cfg.Metrics.Source, cfg.Metrics.Prometheus.URL = "prometheus", f.promURL
	} else {
		cfg.Metrics.Source = "datadog"
	}
	from, to, err = f.rng.parse(now, cfg.Metrics.QueryDelay, stderr)
	return cfg, from, to, err
}

// tooLong refuses a range of more than --max-polls polls.
func (f *backtestFlags) tooLong(from, to time.Time, polls int, every time.Duration) error {
	return fmt.Errorf("--from %s to --to %s is %s polls (one every %s, detection.poll_interval), more than "+
		"--max-polls %s: narrow the range, or give --max-polls %d to run them all",
		from.Format(time.RFC3339), to.Format(time.RFC3339), thousands(polls), every, thousands(f.maxPolls), polls)
}

// history reads the change history, warning when it holds no object.
func (f *backtestFlags) history(ctx context.Context, cfg config.Config, to time.Time, stderr io.Writer) ([]scenario.Object, error) {
	stream, err := f.hist.stream(ctx, cfg, to)
	if err != nil {
		return nil, err
	}
	objects, err := backtest.ReadHistory(stream, "change history")
	if err != nil {
		return nil, err
	}
	if len(objects) == 0 {
		fmt.Fprintf(stderr, "sentinel: warning: %s\n", scenario.NoObjects(f.hist.holdsNone(to)))
	}
	return objects, nil
}

// count is "1 poll", "2 polls".
func count(n int, one, many string) string {
	return thousands(n) + " " + plural(n, one, many)
}

// thousands writes n (not negative) with commas between thousands:
// 1,000,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// loadConfig reads --config, or returns the built-in defaults without it
// (never a config.yaml that happens to be in the working directory).
func loadConfig(path string) (config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	return config.Load(path)
}

// rangeSource is the metrics source answering the polls from start to to.
func rangeSource(ctx context.Context, cfg config.Config, start, to time.Time) (engine.Source, string, error) {
	step := cfg.Detection.PollInterval
	if cfg.Metrics.Source == "datadog" {
		s, err := datadog.New(cfg, nil)
		if err != nil {
			return nil, "", err
		}
		r, err := s.NewRange(start, to, step, 0)
		if err != nil {
			return nil, "", err
		}
		return r, s.Query(), nil
	}
	s, err := prometheus.New(cfg, nil)
	if err != nil {
		return nil, "", err
	}
	r, err := s.NewRange(ctx, start, to, step, 0)
	if err != nil {
		return nil, "", err
	}
	return r, r.Query(), nil
}

// progress returns a progress callback drawing a bar on w for long
// ranges, nil for short ones.
func progress(w io.Writer, total int) func(done, total int) {
	if total <= progressAfter {
		return nil
	}
	bar := progressbar.NewOptions(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription("polls"),
		progressbar.OptionShowCount(), progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(), progressbar.OptionSetPredictTime(true))
	// Drawing on stderr: a failed draw is no reason to stop.
	return func(done, total int) {
		_ = bar.Set(done)
		if done == total {
			_ = bar.Finish()
		}
	}
}
