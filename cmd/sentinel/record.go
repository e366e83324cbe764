package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/sentinel-sre/sentinel/replay/record"
	"github.com/sentinel-sre/sentinel/replay/scenario"
	"github.com/sentinel-sre/sentinel/source/prometheus"
)

func newRecord(now func() time.Time) *cobra.Command {
	var (
		cfgPath, promURL string
		rng              rangeFlags
		hist             historyFlags
	)
	cmd := &cobra.Command{
		Use:   "record --prometheus URL --from RFC3339 --to RFC3339 [--namespace NS] [--workload NAME] (--objects FILE | --kubeconfig FILE) DIR",
		Short: "Save a past range as a scenario directory that `sentinel simulate DIR` replays offline",
		Long: `Writes DIR/metrics.om (the raw counter samples the live query reads, as
scraped), DIR/objects.yaml (the Deployments and ReplicaSets, with managedFields)
and DIR/config.yaml (the configuration used).`,
		Example: "  sentinel record --prometheus http://localhost:9090 --from 2026-04-24T22:00:00Z --to 2026-04-25T02:00:00Z --namespace scale-deploy --kubeconfig ~/.kube/config mli-6574",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("want one argument, the scenario directory to write; got %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if promURL == "" {
				return errors.New("--prometheus URL is required")
			}
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			cfg.Metrics.Source, cfg.Metrics.Prometheus.URL = "prometheus", promURL
			from, to, err := rng.parse(now(), cfg.Metrics.QueryDelay, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			stream, err := hist.stream(ctx, cfg, to)
			if err != nil {
				return err
			}
			src, err := prometheus.New(cfg, nil)
			if err != nil {
				return err
			}
			sel := prometheus.Selection{Namespace: hist.namespace, Workload: hist.workload}
			sum, err := record.Write(ctx, args[0], record.Options{Config: cfg, From: from, To: to, Objects: stream,
				Metrics: func(ctx context.Context, w io.Writer, from, to time.Time) (int, error) {
					return src.WriteRawSamples(ctx, w, cfg.Metrics.Prometheus, from, to, sel)
				}})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "recorded %s to %s into %s: %d samples of %s, %d objects; replay with: sentinel simulate %s\n",
				from.Format(time.RFC3339), to.Format(time.RFC3339), args[0], sum.Samples,
				prometheus.RawSelector(cfg.Metrics.Prometheus, sel), sum.Objects, args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&promURL, "prometheus", "", "Prometheus base URL (overrides metrics.prometheus.url)")
	cmd.Flags().StringVar(&cfgPath, "config", "", "configuration file (default: built-in defaults)")
	cmd.Flags().StringVar(&hist.namespace, "namespace", "", "only this namespace")
	cmd.Flags().StringVar(&hist.workload, "workload", "", "only the Deployment of this name")
	rng.add(cmd)
	hist.add(cmd)
	return cmd
}

// selectObjects keeps the objects in namespace and workload observed up
// to to, as an objects.yaml stream.
func selectObjects(objs []scenario.Object, namespace, workload string, to time.Time) ([]byte, error) {
	return record.Select(objs, namespace, workload, to)
}
