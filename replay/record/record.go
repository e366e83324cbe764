// Package record writes a scenario directory from live history — what
// `sentinel record` saves so that `sentinel simulate DIR` replays it
// offline, in a post-mortem or as a regression test: metrics.om with the
// raw counter samples the live query reads (as scraped, never rates),
// objects.yaml with the Deployments and ReplicaSets (managedFields and
// all) in observed order, and config.yaml, the configuration used.
package record

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/replay/scenario"
	"github.com/sentinel-sre/sentinel/replay/simulate"
)

// Metrics writes the raw samples of [from, to] in OpenMetrics text and
// says how many it wrote (source/prometheus's WriteRawSamples).
type Metrics func(ctx context.Context, w io.Writer, from, to time.Time) (int, error)

// Options say what to record.
type Options struct {
	Config   config.Config
	From, To time.Time
	Metrics  Metrics
	// Objects is the objects.yaml stream to write (backtest.FromCluster,
	// or Select of a file's objects).
	Objects []byte
}

// Summary says what was written.
type Summary struct {
	Samples, Objects int
}

// Write records into dir, which is created if needed and must not already
// hold a scenario. Files are written under temporary names and renamed
// once complete, so an interrupted record leaves no half scenario.
func Write(ctx context.Context, dir string, o Options) (Summary, error) {
	if _, err := os.Stat(filepath.Join(dir, simulate.MetricsFile)); err == nil {
		return Summary{}, fmt.Errorf("%s already holds a scenario (%s): choose an empty directory", dir, simulate.MetricsFile)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Summary{}, fmt.Errorf("create scenario directory: %w", err)
	}
	objs, err := scenario.ReadObjects(bytes.NewReader(o.Objects), "objects")
	if err != nil {
		return Summary{}, fmt.Errorf("check objects: %w", err)
	}
	sum := Summary{Objects: len(objs)}
	cfg, err := yaml.Marshal(o.Config)
	if err != nil {
		return sum, fmt.Errorf("encode config: %w", err)
	}
	header := fmt.Sprintf("# recorded by sentinel record from %s to %s\n",
		o.From.UTC().Format(time.RFC3339), o.To.UTC().Format(time.RFC3339))
	files := []struct {
		name  string
		write func(io.Writer) error
	}{
		{simulate.MetricsFile, func(w io.Writer) error {
			n, err := o.Metrics(ctx, w, o.From, o.To)
			sum.Samples = n
			return err
		}},
		{simulate.ObjectsFile, func(w io.Writer) error {
			_, err := io.WriteString(w, header+string(o.Objects))
			return err
		}},
		{simulate.ConfigFile, func(w io.Writer) error {
			_, err := io.WriteString(w, header+string(cfg))
			return err
		}},
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(dir, f.name), f.write); err != nil {
			return sum, err
		}
	}
	return sum, nil
}

func writeFile(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Select writes, as an objects.yaml stream, the objects of a recording in
// namespace and named workload (each empty: all) observed up to to: a
// Deployment by its name, a ReplicaSet by its controlling Deployment.
func Select(objs []scenario.Object, namespace, workload string, to time.Time) ([]byte, error) {
	var buf bytes.Buffer
	for _, o := range objs {
		if o.At.After(to) {
			break
		}
		var (
			obj   any
			meta  metav1.ObjectMeta
			owner string
		)
		switch {
		case o.Deployment != nil:
			d := o.Deployment.DeepCopy()
			d.TypeMeta = metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}
			obj, meta, owner = d, d.ObjectMeta, d.Name
		case o.ReplicaSet != nil:
			rs := o.ReplicaSet.DeepCopy()
			rs.TypeMeta = metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"}
			obj, meta = rs, rs.ObjectMeta
			for _, ref := range rs.OwnerReferences {
				if ref.Kind == "Deployment" && ref.Controller != nil && *ref.Controller {
					owner = ref.Name
				}
			}
		default:
			continue
		}
		if (namespace != "" && meta.Namespace != namespace) || (workload != "" && owner != workload) {
			continue
		}
		b, err := sigsyaml.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("encode object of line %d: %w", o.Line, err)
		}
		buf.WriteString("---\n")
		buf.Write(b)
	}
	return buf.Bytes(), nil
}
