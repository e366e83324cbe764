package recording

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// Object is one observation of a Deployment or ReplicaSet; exactly one of
// the two is set.
type Object struct {
	// At is when the object was observed: its newest managedFields time
	// (its creationTimestamp where it has none), never earlier than the
	// object observed before it, since the stream is in observed order.
	At         time.Time
	Deployment *appsv1.Deployment
	ReplicaSet *appsv1.ReplicaSet
	// Line is where the object starts in the file.
	Line int
}

// ReadObjectsFile reads an objects.yaml file; see ReadObjects.
func ReadObjectsFile(path string) ([]Object, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read objects: %w", err)
	}
	defer f.Close()
	return ReadObjects(f, path)
}

// ReadObjects reads a YAML stream of apps/v1 Deployments and ReplicaSets
// (as `kubectl get deploy,rs --watch -o yaml --show-managed-fields` prints
// them). Any document that is not one, or lacks what sentinel needs, is an
// error naming the file and the document's line.
func ReadObjects(r io.Reader, name string) ([]Object, error) {
	var (
		out   []Object
		doc   bytes.Buffer
		start = 1
		line  = 0
		last  time.Time
	)
	flush := func() error {
		if len(bytes.TrimSpace(doc.Bytes())) == 0 || isComments(doc.Bytes()) {
			return nil
		}
		o, err := decodeObject(doc.Bytes())
		if err != nil {
			off := 0
			var se syntaxError
			if errors.As(err, &se) {
				off = relLine(err)
			}
			return fmt.Errorf("%s:%d: %w", name, start+off, err)
		}
		o.Line = start
		if o.At.Before(last) {
			o.At = last
		}
		last = o.At
		out = append(out, o)
		return nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line++
		t := sc.Bytes()
		if bytes.HasPrefix(t, []byte("---")) && (len(t) == 3 || t[3] == ' ' || t[3] == '\t' || t[3] == '\r') ||
			bytes.Equal(bytes.TrimRight(t, " \t\r"), []byte("...")) {
			if err := flush(); err != nil {
				return nil, err
			}
			doc.Reset()
			start = line + 1
			if rest := bytes.TrimSpace(t[3:]); len(rest) > 0 && rest[0] != '#' && t[0] == '-' {
				start = line // content on the marker line starts the document
				doc.Write(rest)
				doc.WriteByte('\n')
			}
			continue
		}
		doc.Write(t)
		doc.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: read: %w", name, line, err)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// syntaxError is a YAML syntax error; only its message holds a line.
type syntaxError struct{ error }

func (e syntaxError) Unwrap() error { return e.error }

func isComments(b []byte) bool {
	for _, l := range bytes.Split(b, []byte("\n")) {
		l = bytes.TrimSpace(l)
		if len(l) > 0 && l[0] != '#' {
			return false
		}
	}
	return true
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// relLine extracts the 0-based line offset of a YAML error within its
// document, so the reported line is the one in the file.
func relLine(err error) int {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		if n, e := strconv.Atoi(m[1]); e == nil && n > 0 {
			return n - 1
		}
	}
	return 0
}

func decodeObject(b []byte) (Object, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(b, &tm); err != nil {
		return Object{}, syntaxError{fmt.Errorf("invalid YAML: %w", err)}
	}
	if tm.APIVersion != "apps/v1" {
		return Object{}, fmt.Errorf("apiVersion %q: want apps/v1", tm.APIVersion)
	}
	var (
		o    Object
		meta *metav1.ObjectMeta
	)
	switch tm.Kind {
	case "Deployment":
		o.Deployment = &appsv1.Deployment{}
		if err := yaml.Unmarshal(b, o.Deployment); err != nil {
			return Object{}, fmt.Errorf("decode Deployment: %w", err)
		}
		meta = &o.Deployment.ObjectMeta
		if len(o.Deployment.Spec.Template.Spec.Containers) == 0 {
			return Object{}, fmt.Errorf("Deployment %s/%s: spec.template.spec.containers is empty", meta.Namespace, meta.Name)
		}
	case "ReplicaSet":
		o.ReplicaSet = &appsv1.ReplicaSet{}
		if err := yaml.Unmarshal(b, o.ReplicaSet); err != nil {
			return Object{}, fmt.Errorf("decode ReplicaSet: %w", err)
		}
		meta = &o.ReplicaSet.ObjectMeta
		if len(o.ReplicaSet.Spec.Template.Spec.Containers) == 0 {
			return Object{}, fmt.Errorf("ReplicaSet %s/%s: spec.template.spec.containers is empty", meta.Namespace, meta.Name)
		}
	default:
		return Object{}, fmt.Errorf("kind %q: want Deployment or ReplicaSet", tm.Kind)
	}
	if meta.Name == "" || meta.Namespace == "" {
		return Object{}, fmt.Errorf("%s: metadata.name and metadata.namespace are required", tm.Kind)
	}
	o.At = ObservedAt(meta)
	if o.At.IsZero() {
		return Object{}, fmt.Errorf("%s %s/%s: no managedFields time and no creationTimestamp, so no observation time", tm.Kind, meta.Namespace, meta.Name)
	}
	return o, nil
}

// ObservedAt is the newest managedFields time of an object, or its
// creationTimestamp where it has none.
func ObservedAt(meta *metav1.ObjectMeta) time.Time {
	var at time.Time
	for _, mf := range meta.ManagedFields {
		if mf.Time != nil && mf.Time.After(at) {
			at = mf.Time.Time
		}
	}
	if at.IsZero() {
		at = meta.CreationTimestamp.Time
	}
	return at.UTC()
}
