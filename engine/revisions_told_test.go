package engine

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
)

// The first answer says, once, how workloads will be judged: by revision
// where the metrics split them, else as a whole, and under istio-ambient
// why (a waypoint's pod labels are not the destination's).
func TestFirstPollSaysHowWorkloadsAreJudged(t *testing.T) {
	ambient, _ := config.DefaultFor(config.MeshIstioAmbient)
	for _, tc := range []struct {
		name      string
		cfg       config.Config
		revisions []detector.RevisionTraffic
		want      string
	}{
		{"revision labels", config.Default(), []detector.RevisionTraffic{{Revision: "7d9f8b6c4", Requests: 10}},
			"the metrics say which revision's pods served: judging revisions by their own pods"},
		{"no revision labels", config.Default(), nil,
			"the metrics carry no revision or pod label (metrics.prometheus.revision_label, pod_label): judging every workload as a whole"},
		{"istio-ambient", ambient, nil,
			"metrics.mesh is istio-ambient: the series come from waypoint proxies, whose pod labels are the waypoint's, " +
				"not the destination's: judging every workload as a whole"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.InfoLevel)
			src := script(func(time.Time) ([]detector.Observation, error) {
				return []detector.Observation{{Workload: cart, Requests: 10, Revisions: tc.revisions}}, nil
			})
			e := New(tc.cfg, src, &executor{}, &collect{}, zap.New(core))
			for i := range 3 {
				_ = e.Poll(t.Context(), t0.Add(time.Duration(i)*15*time.Second))
			}
			var told []string
			for _, l := range logs.All() {
				if strings.Contains(l.Message, "judging") {
					told = append(told, l.Message)
				}
			}
			if len(told) != 1 || !strings.HasPrefix(told[0], tc.want) {
				t.Errorf("told %q, want once %q", told, tc.want)
			}
		})
	}
}
