package fakedd

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"
)

// FromOpenMetrics converts the samples of counter in OpenMetrics text
// (a scenario's metrics.om) into the points the Datadog Agent's
// OpenMetrics check would submit for it as a monotonic_count: per series,
// the increase since the previous sample (after a reset, the new value),
// at the sample's time, nothing for a series' first sample. Every label
// but the metric name becomes a "name:value" tag.
func FromOpenMetrics(r io.Reader, counter string) ([]Point, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read openmetrics: %w", err)
	}
	type sample struct {
		t int64
		v float64
	}
	type ser struct {
		tags    []string
		samples []sample
	}
	byRaw := map[string]*ser{}
	var order []string
	p := textparse.NewOpenMetricsParser(b, labels.NewSymbolTable())
	var lbls labels.Labels
	for {
		e, err := p.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse openmetrics: %w", err)
		}
		if e != textparse.EntrySeries {
			continue
		}
		raw, ts, v := p.Series()
		s, ok := byRaw[string(raw)]
		if !ok {
			p.Labels(&lbls)
			if lbls.Get(labels.MetricName) != counter {
				byRaw[string(raw)] = nil
				continue
			}
			s = &ser{}
			lbls.Range(func(l labels.Label) {
				if l.Name != labels.MetricName {
					s.tags = append(s.tags, l.Name+":"+l.Value)
				}
			})
			// The Agent tags a pod's metrics with its owner ReplicaSet.
			if pod := lbls.Get("pod"); strings.LastIndexByte(pod, '-') > 0 {
				s.tags = append(s.tags, "pod_name:"+pod, "kube_replica_set:"+pod[:strings.LastIndexByte(pod, '-')])
			}
			byRaw[string(raw)] = s
			order = append(order, string(raw))
		}
		if s == nil || ts == nil {
			continue
		}
		s.samples = append(s.samples, sample{*ts, v})
	}
	var out []Point
	for _, raw := range order {
		s := byRaw[raw]
		sort.SliceStable(s.samples, func(i, j int) bool { return s.samples[i].t < s.samples[j].t })
		for i := 1; i < len(s.samples); i++ {
			prev, cur := s.samples[i-1], s.samples[i]
			d := cur.v - prev.v
			if cur.v < prev.v {
				d = cur.v // the counter restarted from zero
			}
			out = append(out, Point{Tags: s.tags, T: time.UnixMilli(cur.t).UTC(), V: d})
		}
	}
	return out, nil
}
