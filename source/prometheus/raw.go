package prometheus

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/sentinel-sre/sentinel/config"
)

// rawChunk is the span of raw samples one request asks for.
const rawChunk = time.Hour

// Selection narrows the raw samples to a namespace and a workload (each
// empty: all).
type Selection struct {
	Namespace, Workload string
}

// RawSelector is the series selector of the counter the query reads
// (metrics.prometheus.metric with its reporter selector), narrowed to
// sel.
func RawSelector(p config.Prometheus, sel Selection) string {
	ms := []string{strings.TrimSpace(p.ReporterSelector)}
	if sel.Namespace != "" {
		ms = append(ms, p.NamespaceLabel+"="+strconv.Quote(sel.Namespace))
	}
	if sel.Workload != "" {
		ms = append(ms, p.WorkloadLabel+"="+strconv.Quote(sel.Workload))
	}
	return selector(p.Metric, ms...)
}

// WriteRawSamples writes in OpenMetrics text every sample of the counter
// the query reads, of the series sel selects, scraped in [from, to]: the
// samples as stored, with their own timestamps and every label, not
// rates, so a replay (or promtool) sees what the query saw. It asks
// instant queries of a range selector (sel[1h] at the hour's end) one
// hour at a time, and returns the number of samples written.
func (s *Source) WriteRawSamples(ctx context.Context, w io.Writer, p config.Prometheus, from, to time.Time, sel Selection) (int, error) {
	ranges, err := s.rangesOf(ctx)
	if err != nil {
		return 0, err
	}
	selector := RawSelector(p, sel)
	bw := bufio.NewWriter(w)
	family := strings.TrimSuffix(p.Metric, "_total")
	kind := "counter"
	if family == p.Metric {
		kind = "unknown" // OpenMetrics counters end in _total
	}
	fmt.Fprintf(bw, "# TYPE %s %s\n", family, kind)
	n := 0
	// Chunks (end-rawChunk, end], the first ending just before from.
	for end := from.Add(-time.Millisecond); end.Before(to); {
		lo := end
		end = end.Add(rawChunk)
		if end.After(to) {
			end = to
		}
		window := end.Sub(lo)
		if ranges == RangesClosed && window > time.Millisecond {
			window -= time.Millisecond // [t-w+1ms, t] is (t-w, t]
		}
		q := fmt.Sprintf("%s[%s]", selector, promDuration(window))
		timeout := max(s.timeout, rangeTimeout)
		qctx, cancel := context.WithTimeout(ctx, timeout)
		val, warnings, err := s.api.Query(qctx, q, end, v1.WithTimeout(timeout))
		cancel()
		if err != nil {
			return n, fmt.Errorf("query prometheus %s at %s: %w", q, end.UTC().Format(time.RFC3339), err)
		}
		if len(warnings) > 0 {
			return n, fmt.Errorf("query prometheus %s at %s: the answer may be partial: %s", q,
				end.UTC().Format(time.RFC3339), strings.Join(warnings, "; "))
		}
		mat, ok := val.(model.Matrix)
		if !ok {
			return n, fmt.Errorf("query prometheus %s: want a range vector, got %s", q, typeOf(val))
		}
		sort.Slice(mat, func(i, j int) bool { return mat[i].Metric.Before(mat[j].Metric) })
		for _, ss := range mat {
			name := seriesText(p.Metric, ss.Metric)
			for _, v := range ss.Values {
				ms := int64(v.Timestamp)
				fmt.Fprintf(bw, "%s %s %d.%03d\n", name, strconv.FormatFloat(float64(v.Value), 'g', -1, 64), ms/1000, ms%1000)
				n++
			}
		}
	}
	bw.WriteString("# EOF\n")
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("write samples: %w", err)
	}
	return n, nil
}

// seriesText writes a series as OpenMetrics does: name{label="value",...}
// in label order, values escaped.
func seriesText(metric string, m model.Metric) string {
	names := make([]string, 0, len(m))
	for k := range m {
		if k != model.MetricNameLabel {
			names = append(names, string(k))
		}
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(metric)
	b.WriteByte('{')
	for i, k := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteString(`="`)
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(string(m[model.LabelName(k)])))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}
