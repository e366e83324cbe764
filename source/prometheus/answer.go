package prometheus

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	jsoniter "github.com/json-iterator/go"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// An instant query's answer is decoded here rather than by
// client_golang's v1.API.Query, which decodes the whole envelope, then
// every sample again with encoding/json into a label map: 111 ms and
// 32 MB of garbage per poll at 5,000 workloads, which under GOMEMLIMIT
// kept the collector busy (docs/benchmarks.md). The request, the HTTP
// client, the status codes and the error types are client_golang's, as
// its v1 API sends and maps them; only the answer's labels sentinel reads
// are kept. The answer is read into a buffer kept from one poll to the
// next (api.Client's Do grows a new one by doubling: 4 MB of garbage for
// a 2 MB answer).

// bodies holds answer buffers for reuse; a Source may query from several
// goroutines (a warm-up and a look back), each taking its own.
type bodies chan *bytes.Buffer

// maxKept bounds a buffer kept for reuse: a pathological answer is not
// held for ever.
const maxKept = 64 << 20

func (b bodies) get() *bytes.Buffer {
	select {
	case buf := <-b:
		buf.Reset()
		return buf
	default:
		return new(bytes.Buffer)
	}
}

// put keeps buf for the next answer unless it is far larger than the one
// it just held (an answer of a fleet that has since shrunk) or too large.
func (b bodies) put(buf *bytes.Buffer) {
	if buf.Cap() > maxKept || buf.Cap() > 4*buf.Len()+bytes.MinRead {
		return
	}
	select {
	case b <- buf:
	default:
	}
}

// do sends req and reads the answer into buf, as api.Client's Do does.
func (s *Source) do(req *http.Request, buf *bytes.Buffer) (*http.Response, []byte, error) {
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	// The standard transport ends a read when the context ends; one given
	// by WithHTTPClient may not.
	stop := context.AfterFunc(req.Context(), func() { _ = resp.Body.Close() })
	defer stop()
	buf.Reset()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return resp, nil, ctxErr
		}
		return resp, nil, err
	}
	return resp, buf.Bytes(), nil
}

// series is one answered series: the labels sentinel reads and its value.
type series struct {
	ns, wl, rev, class string
	// grpc is the gRPC status a failed series is summed by ("" for none).
	grpc  string
	value float64
	// bad: the value is missing (a native histogram) or not a number.
	bad bool
}

// samplesOf turns client_golang's vector (the range path) into samples.
func (s *Source) samplesOf(vec model.Vector) []series {
	out := make([]series, len(vec))
	for i, smp := range vec {
		out[i] = series{ns: string(smp.Metric[s.nsLabel]), wl: string(smp.Metric[s.wlLabel]),
			rev: string(smp.Metric[RevisionLabel]), class: string(smp.Metric[ClassLabel]),
			value: float64(smp.Value), bad: smp.Histogram != nil}
		if s.grpcLabel != "" {
			out[i].grpc = string(smp.Metric[s.grpcLabel])
		}
	}
	return out
}

// instantQuery sends query at at as v1.API.Query does (a form POST,
// falling back to GET on 405 or 501) and decodes the answer. Errors are
// client_golang's: transport errors as its client returns them, the
// server's as *v1.Error.
func (s *Source) instantQuery(ctx context.Context, query string, at time.Time) ([]series, []string, error) {
	u := s.client.URL("/api/v1/query", nil)
	args := url.Values{}
	args.Set("query", query)
	args.Set("time", strconv.FormatFloat(float64(at.Unix())+float64(at.Nanosecond())/1e9, 'f', -1, 64))
	if s.timeout > 0 {
		args.Set("timeout", s.timeout.String())
	}
	encoded := args.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(encoded))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header["Idempotency-Key"] = nil // retried by the transport like a GET
	buf := s.bodies.get()
	defer s.bodies.put(buf) // decodeAnswer copies what it keeps
	resp, body, err := s.do(req, buf)
	if resp != nil && (resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusNotImplemented) {
		u.RawQuery = encoded
		if req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil); err != nil {
			return nil, nil, err
		}
		resp, body, err = s.do(req, buf)
	}
	if err != nil {
		return nil, nil, err
	}
	return s.decodeAnswer(resp.StatusCode, body)
}

// apiError reports the status codes Prometheus answers its own errors with.
func apiError(code int) bool {
	return code == http.StatusUnprocessableEntity || code == http.StatusBadRequest
}

// decodeAnswer decodes a /api/v1/query answer with status code code.
func (s *Source) decodeAnswer(code int, body []byte) ([]series, []string, error) {
	if code/100 != 2 && !apiError(code) {
		e := &v1.Error{Type: v1.ErrBadResponse, Msg: fmt.Sprintf("bad response code %d", code), Detail: string(body)}
		switch code / 100 {
		case 4:
			e.Type, e.Msg = v1.ErrClient, fmt.Sprintf("client error: %d", code)
		case 5:
			e.Type, e.Msg = v1.ErrServer, fmt.Sprintf("server error: %d", code)
		}
		return nil, nil, e
	}
	a, err := s.decode(body)
	if err != nil {
		return nil, nil, &v1.Error{Type: v1.ErrBadResponse, Msg: err.Error()}
	}
	switch {
	case a.status == "error":
		return nil, a.warnings, &v1.Error{Type: v1.ErrorType(a.errorType), Msg: a.errorMsg}
	case apiError(code):
		return nil, a.warnings, &v1.Error{Type: v1.ErrBadResponse, Msg: "inconsistent body for response code"}
	case a.resultType != model.ValVector.String():
		got := a.resultType
		if got == "" {
			got = "nothing"
		}
		return nil, a.warnings, &v1.Error{Type: v1.ErrBadResponse, Msg: "want an instant vector, got " + got}
	}
	return a.samples, a.warnings, nil
}

// decoded is what decode reads of an answer.
type decoded struct {
	status, errorType, errorMsg, resultType string
	warnings                                []string
	samples                                 []series
}

// decode reads an answer's envelope and, for a vector, its samples,
// keeping of each series only the labels sentinel reads.
func (s *Source) decode(body []byte) (decoded, error) {
	// Room for every series at once: Prometheus writes each as
	// {"metric":…} (a label value's quotes would be escaped).
	a := decoded{samples: make([]series, 0, bytes.Count(body, []byte(`"metric":`)))}
	it := jsoniter.ConfigDefault.BorrowIterator(body)
	defer jsoniter.ConfigDefault.ReturnIterator(it)
	for field := it.ReadObject(); field != ""; field = it.ReadObject() {
		switch field {
		case "status":
			a.status = it.ReadString()
		case "errorType":
			a.errorType = it.ReadString()
		case "error":
			a.errorMsg = it.ReadString()
		case "warnings":
			for it.ReadArray() {
				a.warnings = append(a.warnings, it.ReadString())
			}
		case "data":
			s.decodeData(it, &a)
		default:
			it.Skip()
		}
	}
	if it.Error != nil {
		return decoded{}, fmt.Errorf("decode the answer: %w", it.Error)
	}
	return a, nil
}

// decodeData reads the answer's data: its result type and, for a
// vector, its samples.
func (s *Source) decodeData(it *jsoniter.Iterator, a *decoded) {
	if it.WhatIsNext() == jsoniter.NilValue {
		it.Skip()
		return
	}
	for field := it.ReadObject(); field != ""; field = it.ReadObject() {
		switch {
		case field == "resultType":
			a.resultType = it.ReadString()
		case field == "result" && (a.resultType == "" || a.resultType == model.ValVector.String()):
			for it.ReadArray() {
				a.samples = append(a.samples, s.decodeSample(it))
			}
		default:
			it.Skip()
		}
	}
}

// decodeSample reads one series of a vector.
func (s *Source) decodeSample(it *jsoniter.Iterator) series {
	smp := series{bad: true}
	for field := it.ReadObject(); field != ""; field = it.ReadObject() {
		switch field {
		case "metric":
			for name := it.ReadObject(); name != ""; name = it.ReadObject() {
				switch model.LabelName(name) {
				case s.nsLabel:
					smp.ns = it.ReadString()
				case s.wlLabel:
					smp.wl = it.ReadString()
				case RevisionLabel:
					smp.rev = it.ReadString()
				case ClassLabel:
					smp.class = it.ReadString()
				case s.grpcLabel:
					smp.grpc = it.ReadString()
				default:
					it.Skip()
				}
			}
		case "value": // [unix time, "value"]
			for i := 0; it.ReadArray(); i++ {
				if i != 1 {
					it.Skip()
					continue
				}
				v, err := strconv.ParseFloat(it.ReadString(), 64)
				smp.value, smp.bad = v, err != nil
			}
		default: // a native histogram has no value
			it.Skip()
		}
	}
	return smp
}
