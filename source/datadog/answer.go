package datadog

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/DataDog/datadog-api-client-go/v2/api/datadogV1"

	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/source"
	"github.com/sentinel-sre/sentinel/workload"
)

// Reading an answer: the bucket grid, the rate window's complete buckets,
// and each workload's (and revision's) counts over them.

type counts struct {
	total, failed float64
	by            source.Failures // the failed counts by what failed
	known         bool            // a point in the window
	bad           bool            // a series was skipped: half an answer is no answer
	// by revision (the serving pods' ReplicaSet), where tagged
	revisions map[string]*detector.RevisionTraffic
}

// add counts a series' sum of requests in the window; grpc is the gRPC
// status its requests failed with ("" for none).
func (c *counts) add(sum float64, failed bool, grpc, revision string) {
	c.known = true
	c.total += sum
	if failed {
		c.failed += sum
		c.by.Add(grpc, sum)
	}
	if revision == "" {
		return
	}
	if c.revisions == nil {
		c.revisions = map[string]*detector.RevisionTraffic{}
	}
	r := c.revisions[revision]
	if r == nil {
		r = &detector.RevisionTraffic{Revision: revision}
		c.revisions[revision] = r
	}
	r.Requests += sum
	if failed {
		r.Failures += sum
	}
}

// observation is the workload's rates over secs seconds.
func (c *counts) observation(w workload.Ref, secs float64) detector.Observation {
	o := detector.Observation{Workload: w, Requests: c.total / secs, Failures: c.failed / secs, FailedBy: c.by.Rates(secs)}
	for _, r := range c.revisions {
		o.Revisions = append(o.Revisions, detector.RevisionTraffic{Revision: r.Revision,
			Requests: r.Requests / secs, Failures: r.Failures / secs})
	}
	sort.Slice(o.Revisions, func(i, j int) bool { return o.Revisions[i].Revision < o.Revisions[j].Revision })
	return o
}

// revisionOf names the revision whose pods a series counts: the
// ReplicaSet tag, else the ReplicaSet name taken from the pod tag (the pod
// name less its last "-suffix"); "" when neither is there.
func (s *Source) revisionOf(tags map[string]string) string {
	if s.revTag != "" && tags[s.revTag] != "" {
		return tags[s.revTag]
	}
	pod := tags[s.podTag]
	if i := strings.LastIndexByte(pod, '-'); s.podTag != "" && i > 0 {
		return pod[:i]
	}
	return ""
}

// observations turns the answer into rates. It returns the series skipped
// by reason and, for an answer that cannot be used, the reason and error.
func (s *Source) observations(resp datadogV1.MetricsQueryResponse, at time.Time, fromMs int64) (
	[]detector.Observation, map[string]int, string, error) {
	skipped := map[string]int{}
	if resp.UnparsedObject != nil {
		return nil, skipped, ReasonBadResponse, errors.New("undecodable answer")
	}
	if st := resp.GetStatus(); st != "" && st != "ok" {
		return nil, skipped, ReasonRejected, fmt.Errorf("status %q: %s", st, resp.GetError())
	}
	if len(resp.Series) == 0 {
		return nil, skipped, ReasonNoData, fmt.Errorf("no series: %w", source.ErrNoData)
	}

	// The bucket grid: every series of one query shares the rollup
	// interval (in seconds, whatever the API reference says) and buckets
	// aligned on it.
	var interval int64
	anchor, anchored := int64(0), false
	for i, ser := range resp.Series {
		if ser.UnparsedObject != nil {
			return nil, skipped, ReasonBadResponse, fmt.Errorf("series %d: undecodable", i)
		}
		iv := ser.GetInterval() * 1000
		if iv <= 0 || (interval != 0 && iv != interval) {
			return nil, skipped, ReasonBadResponse, fmt.Errorf("series %d: interval %ds, want one positive interval for all series", i, ser.GetInterval())
		}
		interval = iv
		for _, p := range ser.Pointlist {
			if len(p) == 2 && p[0] != nil && !anchored {
				anchor, anchored = int64(*p[0]), true
			}
		}
	}
	if interval > s.window.Milliseconds() {
		return nil, skipped, ReasonBadResponse, fmt.Errorf("buckets of %ds are longer than the rate window %s", interval/1000, s.window)
	}
	if !anchored {
		return nil, skipped, ReasonNoData, fmt.Errorf("no points: %w", source.ErrNoData)
	}
	cutoff := at.Add(-s.delay).UnixMilli()
	newest := anchor + floorDiv(cutoff-interval-anchor, interval)*interval // last bucket ending by cutoff
	hi := newest + interval
	n := s.window.Milliseconds() / interval
	lo := hi - n*interval
	if lo < fromMs {
		return nil, skipped, ReasonBadResponse, fmt.Errorf("window starts at %d, before the answer's %d", lo, fromMs)
	}

	if reason, err := onGrid(resp.Series, anchor, interval, newest, hi); err != nil {
		return nil, skipped, reason, err
	}

	byWorkload := s.sum(resp.Series, lo, hi, skipped)
	secs := float64(hi-lo) / 1000
	out := make([]detector.Observation, 0, len(byWorkload))
	for w, c := range byWorkload {
		if c.known && !c.bad {
			out = append(out, c.observation(w, secs))
		}
	}
	if len(out) == 0 {
		return nil, skipped, ReasonInvalid, fmt.Errorf("none of %d series was usable (skipped: %v): %w", len(resp.Series), skipped, source.ErrNoData)
	}
	source.SortWorkloads(out)
	return out, skipped, "", nil
}

// onGrid checks that every point lies on the bucket grid, and that a
// point in the newest complete bucket, of any series, shows ingestion has
// caught up with it.
func onGrid(series []datadogV1.MetricsQueryMetadata, anchor, interval, newest, hi int64) (string, error) {
	fresh := false
	for i, ser := range series {
		for _, p := range ser.Pointlist {
			if len(p) != 2 || p[0] == nil {
				return ReasonBadResponse, fmt.Errorf("series %d: malformed point %v", i, p)
			}
			t := int64(*p[0])
			if (t-anchor)%interval != 0 {
				return ReasonBadResponse, fmt.Errorf("series %d: point at %d is off the %ds bucket grid", i, t, interval/1000)
			}
			if t == newest && p[1] != nil {
				fresh = true
			}
		}
	}
	if !fresh {
		return ReasonNoData, fmt.Errorf("no series has a point in the newest complete bucket, %s to %s: ingestion is behind: %w",
			time.UnixMilli(newest).UTC().Format(time.RFC3339), time.UnixMilli(hi).UTC().Format(time.RFC3339), source.ErrNoData)
	}
	return "", nil
}

// sum adds up each workload's series over the window's buckets [lo, hi),
// counting the series skipped by reason.
func (s *Source) sum(series []datadogV1.MetricsQueryMetadata, lo, hi int64, skipped map[string]int) map[workload.Ref]*counts {
	byWorkload := map[workload.Ref]*counts{}
	for _, ser := range series {
		tags := tagMap(ser.TagSet)
		w := workload.Ref{Namespace: tags[s.nsTag], Name: tags[s.wlTag]}
		if source.Unattributed(w.Namespace, w.Name) {
			// Istio reports requests it cannot attribute as "unknown".
			skipped[SkipNoWorkload]++
			continue
		}
		c := byWorkload[w]
		if c == nil {
			c = &counts{}
			byWorkload[w] = c
		}
		code, hasCode := tags[s.codeTag]
		if !hasCode {
			skipped[SkipNoCode]++
			c.bad = true
			continue
		}
		total, known, ok := windowSum(ser.Pointlist, lo, hi)
		if !ok {
			skipped[SkipBadValue]++
			c.bad = true
			continue
		}
		if known {
			failed, grpc := s.failed(code, tags)
			c.add(total, failed, grpc, s.revisionOf(tags))
		}
	}
	return byWorkload
}

// failed classifies a series' requests as the replay does: failed when
// their response code matches, or their gRPC status does (returned).
func (s *Source) failed(code string, tags map[string]string) (bool, string) {
	if status := tags[s.grpcTag]; s.grpcCodes != nil && status != "" && s.grpcCodes.MatchString(status) {
		return true, status
	}
	return s.codes.MatchString(code), ""
}

// windowSum adds a series' points in [lo, hi); known is false when none
// has a value, ok false when one is not a count.
func windowSum(points [][]*float64, lo, hi int64) (sum float64, known, ok bool) {
	ok = true
	for _, p := range points {
		t := int64(*p[0])
		if t < lo || t >= hi || p[1] == nil {
			continue // outside the window, or an empty bucket
		}
		v := *p[1]
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			ok = false
			continue
		}
		sum += v
		known = true
	}
	return sum, known, ok
}

// tagMap reads "key:value" tags; Datadog writes a missing group-by tag as
// N/A, which is left out.
func tagMap(tags []string) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		k, v, ok := strings.Cut(t, ":")
		if !ok || v == "" || strings.EqualFold(v, "n/a") {
			continue
		}
		m[k] = v
	}
	return m
}
