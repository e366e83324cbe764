package counter

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// s builds samples from (seconds, value) pairs, so tables read in the
// units a scrape config is written in.
func s(pairs ...float64) []Sample {
	out := make([]Sample, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, Sample{T: int64(pairs[i] * 1000), V: pairs[i+1]})
	}
	return out
}

// increaseCase is one increase(x[range]) evaluated at end. The expected
// values were produced by Prometheus v0.307.3's PromQL engine
// (promql.NewEngine, query `increase(x[<end-start>])` at end, over an
// in-memory storage.Queryable holding exactly these samples); the
// arithmetic of extrapolatedRate is repeated in each comment so a reader
// can check it without the engine. Times in comments are seconds.
type increaseCase struct {
	name       string
	samples    []Sample // the whole series, sorted
	start, end int64    // ms; the range is (start, end]
	want       float64
	wantOK     bool
}

var increaseCases = []increaseCase{
	{
		// In window: 75:250 90:280 105:310 120:340. result=90, sampled=45,
		// avg=15, toStart=15 (<16.5, extrapolate to the boundary),
		// toZero=45*250/90=125 (no clamp), toEnd=0.
		// 90*(45+15+0)/45 = 120 = 2/s * 60s.
		name:    "steady counter",
		samples: s(0, 100, 15, 130, 30, 160, 45, 190, 60, 220, 75, 250, 90, 280, 105, 310, 120, 340),
		start:   60_000, end: 120_000,
		want: 120, wantOK: true,
	},
	{
		// A pod restarts between 90 and 105: 75:250 90:280 105:5 120:35.
		// result = 35-250 + 280 (the value before the drop) = 65.
		// sampled=45, toStart=15, toZero=45*250/65≈173 (no clamp), toEnd=0.
		// 65*60/45 = 86.666…
		name:    "counter reset mid-window",
		samples: s(45, 190, 60, 220, 75, 250, 90, 280, 105, 5, 120, 35),
		start:   60_000, end: 120_000,
		want: 65.0 * 60 / 45, wantOK: true,
	},
	{
		// Two resets in the window: 75:250 90:10 105:3 120:33.
		// result = 33-250 + 250 + 10 = 43; sampled=45, toStart=15,
		// toZero=45*250/43≈261.6 (no clamp). 43*60/45 = 57.333…
		name:    "two counter resets",
		samples: s(75, 250, 90, 10, 105, 3, 120, 33),
		start:   60_000, end: 120_000,
		want: 43.0 * 60 / 45, wantOK: true,
	},
	{
		// A new pod's first scrape at 90 already reads 40 (requests served
		// before the first scrape): 90:40 105:70 120:100. The 40 is not an
		// increase seen in the window. result=60, sampled=30, avg=15,
		// toStart=30 (>=16.5: the series starts inside the range, so only
		// avg/2=7.5), toZero=30*40/60=20 (no clamp), toEnd=0.
		// 60*(30+7.5)/30 = 75 (counting the first value would give 100+).
		name:    "series starts inside window",
		samples: s(90, 40, 105, 70, 120, 100),
		start:   60_000, end: 120_000,
		want: 75, wantOK: true,
	},
	{
		// The pod is gone after 90: 75:250 90:280. sampled=15, avg=15,
		// toStart=15 (<16.5), toZero=15*250/30=125, toEnd=30 (>=16.5: the
		// series ends inside the range, extrapolate avg/2=7.5).
		// 30*(15+15+7.5)/15 = 75.
		name:    "series ends inside window",
		samples: s(45, 190, 60, 220, 75, 250, 90, 280),
		start:   60_000, end: 120_000,
		want: 75, wantOK: true,
	},
	{
		// Scrapes at 45, 60 and 75 are missing from a 2/s counter over a
		// 2m range: 15:100 30:130 90:250 105:280 120:310. result=210,
		// sampled=105, avg=105/4=26.25, threshold=28.875, toStart=15 (full),
		// toZero=105*100/210=50 (no clamp), toEnd=0.
		// 210*(105+15)/105 = 240 = 2/s * 120s: the gap costs nothing.
		name:    "missing scrapes",
		samples: s(15, 100, 30, 130, 90, 250, 105, 280, 120, 310),
		start:   0, end: 120_000,
		want: 240, wantOK: true,
	},
	{
		// Only 75:250 and 120:340 inside the range: sampled=45, avg=45,
		// toStart=15, toEnd=0, toZero=45*250/90=125. 90*60/45 = 120.
		name:    "gap leaves two samples",
		samples: s(75, 250, 120, 340),
		start:   60_000, end: 120_000,
		want: 120, wantOK: true,
	},
	{
		// One sample in the range: PromQL returns nothing, so unknown.
		name:    "one sample is unknown",
		samples: s(45, 190, 105, 310),
		start:   60_000, end: 120_000,
		wantOK: false,
	},
	{
		name:    "no samples is unknown",
		samples: nil,
		start:   60_000, end: 120_000,
		wantOK: false,
	},
	{
		// A new counter shortly after the range start: 65:2 80:32 95:62
		// 110:92. result=90, sampled=45, avg=15, toStart=5 (<16.5),
		// toZero=45*2/90=1 (<5: the counter would be below zero before 64s,
		// so clamp toStart to 1), toEnd=10 (<16.5, full).
		// 90*(45+1+10)/45 = 112 (120 without the clamp).
		name:    "zero clamp",
		samples: s(65, 2, 80, 32, 95, 62, 110, 92),
		start:   60_000, end: 120_000,
		want: 112, wantOK: true,
	},
	{
		// A new pod scraped at zero first: 75:0 90:30 105:60 120:90.
		// toZero = 45*0/90 = 0, so nothing is extrapolated backwards.
		// 90*(45+0+0)/45 = 90.
		name:    "zero clamp from zero",
		samples: s(75, 0, 90, 30, 105, 60, 120, 90),
		start:   60_000, end: 120_000,
		want: 90, wantOK: true,
	},
	{
		// Samples exactly at start (60) and end (120): the range is
		// left-open, so 60:0 is out and 120:130 is in; 135:999 is after.
		// In window: 75:100 90:110 105:120 120:130. result=30, sampled=45,
		// toStart=15, toZero=45*100/30=150 (no clamp), toEnd=0.
		// 30*60/45 = 40 (including the sample at 60 would give 130).
		name:    "left-open range",
		samples: s(45, 0, 60, 0, 75, 100, 90, 110, 105, 120, 120, 130, 135, 999),
		start:   60_000, end: 120_000,
		want: 40, wantOK: true,
	},
	{
		// A flat counter: result=0, no extrapolation matters. 0.
		name:    "no traffic",
		samples: s(75, 7, 90, 7, 105, 7, 120, 7),
		start:   60_000, end: 120_000,
		want: 0, wantOK: true,
	},
	{
		// Irregular 15s scrapes with jitter, ending 3s before the range
		// end: 62:10 77:40 93:70 108:100 117:118. result=108,
		// sampled=55, avg=13.75, threshold=15.125, toStart=2 (full),
		// toZero=55*10/108≈5.09 (no clamp), toEnd=3 (full).
		// 108*(55+2+3)/55 = 117.818…
		name:    "jittered scrapes",
		samples: s(62, 10, 77, 40, 93, 70, 108, 100, 117, 118),
		start:   60_000, end: 120_000,
		want: 108.0 * 60 / 55, wantOK: true,
	},
}

func TestIncrease(t *testing.T) {
	for _, tc := range increaseCases {
		t.Run(tc.name, func(t *testing.T) {
			in := Window(tc.samples, tc.start, tc.end)
			got, ok := Increase(in, tc.start, tc.end)
			if ok != tc.wantOK {
				t.Fatalf("Increase(%v) ok = %v, want %v", in, ok, tc.wantOK)
			}
			if !ok {
				return
			}
			if !near(got, tc.want) {
				t.Errorf("Increase(%v) = %v, want %v", in, got, tc.want)
			}
		})
	}
}

func TestWindow(t *testing.T) {
	all := s(45, 1, 60, 2, 75, 3, 90, 4, 105, 5, 120, 6, 135, 7)
	for _, tc := range []struct {
		name       string
		in         []Sample
		start, end int64
		want       []Sample
	}{
		{"left-open right-closed", all, 60_000, 120_000, s(75, 3, 90, 4, 105, 5, 120, 6)},
		{"between samples", all, 61_000, 119_000, s(75, 3, 90, 4, 105, 5)},
		{"everything", all, 0, 200_000, all},
		{"all before", all, 200_000, 260_000, nil},
		{"all after", all, 0, 30_000, nil},
		{"only the end sample", all, 119_999, 120_000, s(120, 6)},
		{"only the start sample is excluded", all, 45_000, 45_000, nil},
		{"empty input", nil, 0, 1, nil},
		{"inverted range", all, 120_000, 60_000, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Window(tc.in, tc.start, tc.end)
			if len(got) == 0 && len(tc.want) == 0 {
				return
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Window(%d, %d) (-want +got):\n%s", tc.start, tc.end, diff)
			}
		})
	}
}

// TestIncreaseProperties checks what every answer must satisfy, whatever
// the samples: never negative, never NaN, unknown below two samples.
func TestIncreaseProperties(t *testing.T) {
	for _, tc := range increaseCases {
		for _, win := range []int64{15_000, 30_000, 60_000, 120_000, 300_000} {
			for end := int64(0); end <= 150_000; end += 5_000 {
				in := Window(tc.samples, end-win, end)
				got, ok := Increase(in, end-win, end)
				if ok != (len(in) >= 2) {
					t.Errorf("%s (%d, %d]: ok = %v with %d samples", tc.name, end-win, end, ok, len(in))
				}
				if ok && (got < 0 || math.IsNaN(got) || math.IsInf(got, 0)) {
					t.Errorf("%s (%d, %d]: increase %v", tc.name, end-win, end, got)
				}
			}
		}
	}
}

func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b))
}

// Increase is also given samples by callers other than Window; samples
// that span no time cannot give a rate.
func TestIncreaseNoTimeSpan(t *testing.T) {
	if got, ok := Increase(s(90, 1, 90, 5), 60_000, 120_000); ok {
		t.Errorf("two samples at the same time: %v, ok; want unknown", got)
	}
}
