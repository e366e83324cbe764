package scenario

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"
	"runtime"
	"sync"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"

	"github.com/sentinel-sre/sentinel/counter"
	"github.com/sentinel-sre/sentinel/source"
	"github.com/sentinel-sre/sentinel/workload"
)

// readBufferSize is how much bufio reads at once; a longer line comes in
// several parts.
const readBufferSize = 64 << 10

// readChunks cuts r into chunks of whole lines, each at least size bytes
// unless the file ends, and hands them to send in order; every chunk but
// a final one ending in "# EOF" is closed with one, so the parser accepts
// it. A line is never cut, however long and wherever it falls.
func readChunks(r io.Reader, size int, free <-chan []byte, stop <-chan struct{}, send func(*chunk) bool) error {
	br := bufio.NewReaderSize(r, readBufferSize)
	for {
		var buf []byte
		select {
		case buf = <-free:
		case <-stop:
			return nil
		}
		var readErr error
		// Read whole lines until the chunk is full; a line longer than the
		// read buffer comes in parts, and the chunk only ends after its
		// last one.
		for len(buf) < size || (len(buf) > 0 && buf[len(buf)-1] != '\n') {
			part, err := br.ReadSlice('\n')
			buf = append(buf, part...)
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err != nil {
				readErr = err
				break
			}
		}
		if readErr != nil && !errors.Is(readErr, io.EOF) {
			return readErr
		}
		if len(buf) == 0 {
			return nil
		}
		last := readErr != nil
		if !last {
			if _, err := br.Peek(1); errors.Is(err, io.EOF) {
				last = true
			}
		}
		c := &chunk{done: make(chan struct{})}
		if last && bytes.HasSuffix(bytes.TrimRight(buf, "\r\n"), []byte("# EOF")) {
			c.final = true
			c.buf = buf
		} else {
			c.buf = append(buf, "# EOF\n"...)
		}
		if !send(c) || last {
			return nil
		}
	}
}

// parsers cut a file into chunks and parse them, one parser per core.
type parsers struct {
	// inOrder are the chunks in file order, each parsed once its done
	// is closed; free takes their buffers back.
	inOrder <-chan *chunk
	free    chan<- []byte
	// readErr is the reader's error, sent once inOrder is closed.
	readErr <-chan error
	stop    func()
}

// startParsers reads r in chunks of size bytes, parsing them on every
// core; stop ends the reader and waits for the parsers.
func startParsers(r io.Reader, size int, opts Options) *parsers {
	workers := max(1, runtime.GOMAXPROCS(0))
	free := make(chan []byte, workers+2)
	for range workers + 2 {
		// Grown by the first chunks and then reused: a small file never
		// holds a chunk's worth of memory.
		free <- make([]byte, 0, readBufferSize)
	}
	todo := make(chan *chunk, workers+2)
	inOrder := make(chan *chunk, workers+2)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for c := range todo {
				c.parse(&opts)
				close(c.done)
			}
		})
	}
	readErr := make(chan error, 1)
	go func() {
		defer close(inOrder)
		defer close(todo)
		readErr <- readChunks(r, size, free, stop, func(c *chunk) bool {
			select {
			case todo <- c:
			case <-stop:
				return false
			}
			select {
			case inOrder <- c:
				return true
			case <-stop:
				return false
			}
		})
	}()
	return &parsers{inOrder: inOrder, free: free, readErr: readErr, stop: func() {
		close(stop)
		wg.Wait()
	}}
}

// chunk is a slice of whole lines and, once parsed, its series.
type chunk struct {
	buf   []byte
	final bool // ends the file with its own "# EOF"
	done  chan struct{}

	lines   int // lines parsed; on error, the failing line's index
	err     error
	series  []*chunkSeries
	skipped map[string]int
	ignored int // samples of series the query does not select
	spans   spans
}

// chunkSeries is one series' samples within a chunk, classified.
type chunkSeries struct {
	key      string // the canonical label set
	workload workload.Ref
	failure  bool
	grpc     string // the gRPC status it failed with; "" for none
	revision string
	samples  []counter.Sample
}

// parse parses the chunk. Classifying a series needs only its labels, so
// it happens here, in parallel; only the series' identity across chunks
// is left to the merge.
func (c *chunk) parse(opts *Options) {
	c.buf = dropCR(c.buf)
	p := textparse.NewOpenMetricsParser(c.buf, labels.NewSymbolTable())
	c.skipped = map[string]int{}
	c.spans = spans{}
	local := map[string]*chunkSeries{} // by raw text; nil: ignored
	var (
		lbls labels.Labels
		last *span // the span of the previous sample: most are in the same
		key  int64
	)
	for {
		e, err := p.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			c.err = err
			return
		}
		c.lines++
		if e != textparse.EntrySeries {
			if e == textparse.EntryHistogram {
				c.skipped[SkipNotSupported]++
			}
			continue
		}
		raw, ts, v := p.Series()
		s, known := local[string(raw)]
		if !known {
			if err := checkLabelSizes(raw); err != nil {
				c.lines-- // the failing line's index
				c.err = err
				return
			}
			p.Labels(&lbls)
			s = classify(lbls, opts)
			if s != nil && s.key != "" {
				c.series = append(c.series, s)
			}
			local[string(raw)] = s
		}
		switch {
		case s == nil:
			c.ignored++
		case s.key == "": // no workload labels
			c.skipped[SkipNoWorkload]++
		case ts == nil:
			c.skipped[SkipNoTimestamp]++
		case math.IsNaN(v) || math.IsInf(v, 0) || v < 0:
			c.skipped[SkipBadValue]++
		default:
			if err := checkTime(*ts); err != nil {
				c.lines-- // the failing line's index
				c.err = err
				return
			}
			if last == nil || *ts/spanWidth != key {
				key = *ts / spanWidth
				last = c.spans.get(key)
			}
			last.add(*ts, c.lines-1)
			s.samples = append(s.samples, counter.Sample{T: *ts, V: v})
		}
	}
}

// classify decides what a series is: nil when the live query would not
// select it (another metric or reporter), a series without key when it
// lacks the workload labels, else a series of a workload.
func classify(l labels.Labels, opts *Options) *chunkSeries {
	names := opts.Names
	if !names.matches(l) {
		return nil
	}
	w := workload.Ref{Namespace: l.Get(names.Namespace), Name: l.Get(names.Workload)}
	if source.Unattributed(w.Namespace, w.Name) {
		return &chunkSeries{}
	}
	failure, grpc := names.failed(l, opts.FailureCodes, opts.GRPCCodes)
	return &chunkSeries{key: l.String(), workload: w, failure: failure, grpc: grpc, revision: names.revisionOf(l)}
}
