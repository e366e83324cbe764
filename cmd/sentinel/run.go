package main

import (
	"context"
	"fmt"
	"os"

	"github.com/go-logr/zapr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/daemon"
	"github.com/sentinel-sre/sentinel/engine"
	"github.com/sentinel-sre/sentinel/notify"
	"github.com/sentinel-sre/sentinel/notify/pagerduty"
	ddsource "github.com/sentinel-sre/sentinel/source/datadog"
	promsource "github.com/sentinel-sre/sentinel/source/prometheus"
)

func newRun() *cobra.Command {
	var (
		cfgPath  string
		logLevel string
	)
	cmd := &cobra.Command{
		Use:   "run --config FILE",
		Short: "Run the always-on daemon: watch, page, roll back",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadChecked(cfgPath)
			if err != nil {
				// Every problem, then refuse to start.
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return fmt.Errorf("refusing to start with an invalid configuration")
			}
			log, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			routeKlog(log)
			return run(cmd.Context(), cfg, log)
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "/etc/sentinel/config.yaml", "configuration file")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// newLogger returns a JSON logger with stable keys.
func newLogger(level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	c := zap.NewProductionConfig()
	c.Level = zap.NewAtomicLevelAt(lvl)
	c.EncoderConfig.TimeKey = "ts"
	c.EncoderConfig.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	return c.Build()
}

// routeKlog sends klog's lines (client-go's leader election and caches
// write through it) to log, so the daemon's output is JSON only. klog is
// process-wide by design: client-go calls it directly and offers no way
// to inject a logger, so, against the rule of no package-level state, it
// is set here once, where `sentinel run` builds its logger, and nowhere
// else.
func routeKlog(log *zap.Logger) {
	klog.SetLogger(zapr.NewLogger(log.Named("klog")))
}

// run builds the daemon's dependencies from cfg and runs it.
func run(ctx context.Context, cfg config.Config, log *zap.Logger) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	clk := clock.RealClock{}

	kubeCfg, err := kubeConfig(cfg.Kubernetes.Kubeconfig)
	if err != nil {
		return err
	}
	kubeCfg.UserAgent = "sentinel/" + version

	source, err := newSource(cfg, reg, log, clk)
	if err != nil {
		return err
	}

	var runners, drains []func(context.Context) error
	notifier := engine.Notifier(notify.Log{Log: log.Named("action")})
	if pd := cfg.Paging.PagerDuty; pd.Enabled {
		key, err := config.ReadSecret(pd.RoutingKeyFile, pd.RoutingKeyEnv)
		if err != nil {
			return fmt.Errorf("paging.pagerduty routing key: %w", err)
		}
		p, err := pagerduty.New(pagerduty.Options{Paging: cfg.Paging, RoutingKey: key, Logger: log.Named("pager"),
			Registerer: reg, Clock: clk})
		if err != nil {
			return err
		}
		notifier = notify.Tee{notifier, p}
		runners = append(runners, p.Run)
		drains = append(drains, p.Drain) // what is queued at shutdown
	}

	identity := os.Getenv("POD_NAME")
	if identity == "" {
		if identity, err = os.Hostname(); err != nil {
			return fmt.Errorf("identity for leader election: %w", err)
		}
	}
	return daemon.Run(ctx, daemon.Options{
		Config: cfg, Kube: kubeCfg, Source: source, Notifier: notifier, Runners: runners, Drains: drains,
		Registry: reg, Log: log, Clock: clk, Identity: identity, LeaseNamespace: os.Getenv("POD_NAMESPACE"),
	})
}

func kubeConfig(path string) (*rest.Config, error) {
	if path == "" {
		c, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("kubernetes.kubeconfig is empty and not running in a cluster: %w", err)
		}
		return c, nil
	}
	c, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("kubernetes.kubeconfig: %w", err)
	}
	return c, nil
}

// newSource builds the configured metrics backend. config.Validate has
// already refused any other name.
func newSource(cfg config.Config, reg prometheus.Registerer, log *zap.Logger, clk clock.Clock) (engine.Source, error) {
	switch cfg.Metrics.Source {
	case "prometheus":
		return promsource.New(cfg, reg, promsource.WithLogger(log.Named("prometheus")), promsource.WithClock(clk))
	case "datadog":
		return ddsource.New(cfg, reg, ddsource.WithLogger(log.Named("datadog")), ddsource.WithClock(clk))
	default:
		return nil, fmt.Errorf("metrics.source %q is not available in this build", cfg.Metrics.Source)
	}
}
