package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/test/promenv"
)

// clusterConfig shortens the waits the history needs: a page 15 s after
// onset, a revision healthy after 30 s.
const clusterConfig = `detection:
  for: 15s
rollback:
  healthy:
    min_duration: 30s
`

// TestIntegrationBacktestFromCluster builds a change history in the real
// API server — a Deployment created by helm, then a `kubectl set image`
// (field manager kubectl-set) a minute later — and backfills into the
// real Prometheus traffic that starts failing with the new revision.
// `sentinel backtest --kubeconfig` must page, name kubectl-set as the
// cause and roll back to revision 1; `sentinel record --kubeconfig`
// followed by `sentinel simulate` must take the same actions, and so
// must `sentinel backtest --objects` of the recorded objects.yaml.
func TestIntegrationBacktestFromCluster(t *testing.T) {
	env := promenv.Need(t)
	if env.Kubeconfig == "" {
		t.Fatal("KUBECONFIG is not set: run under scripts/testenv.sh exec")
	}
	rc, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	kc := kubernetes.NewForConfigOrDie(rc)
	ctx := t.Context()
	ns := fmt.Sprintf("backtest-%d", time.Now().Unix())
	if _, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Given: revision 1 by helm, revision 2 by kubectl set image.
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1.0"}}}}},
	}
	if _, err := kc.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{FieldManager: "helm"}); err != nil {
		t.Fatal(err)
	}
	t1 := waitRevision(t, kc, ns, 1)
	// Revision 1 must serve healthy for min_duration before the change.
	waitUntil(t, t1.Add(65*time.Second))
	cur, err := kc.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Spec.Template.Spec.Containers[0].Image = "registry.example/web:2.0"
	if _, err := kc.AppsV1().Deployments(ns).Update(ctx, cur, metav1.UpdateOptions{FieldManager: "kubectl-set"}); err != nil {
		t.Fatal(err)
	}
	t2 := waitRevision(t, kc, ns, 2)

	// And traffic that fails once revision 2's pods serve, 20 s after the
	// change (a pod's start-up), up to a minute and a half after that,
	// backfilled once that has passed.
	failAt := t2.Add(20 * time.Second)
	from, to := t1.Add(-10*time.Minute).Truncate(time.Minute), failAt.Add(90*time.Second)
	om := filepath.Join(t.TempDir(), "metrics.om")
	samples := writeTraffic(t, om, ns, from, to, failAt)
	waitUntil(t, to.Add(10*time.Second))
	env.Backfill(t, om, fmt.Sprintf(`istio_requests_total{destination_workload_namespace=%q}`, ns), from, to, samples)

	cfgFile := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfgFile, []byte(clusterConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	span := []string{"--prometheus", env.URL, "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339)}

	// When: backtest from the cluster, record from it, replay the record.
	live := timeline(sentinelOut(t, append([]string{"backtest", "--config", cfgFile, "--kubeconfig", env.Kubeconfig}, span...)...))
	dir := filepath.Join(t.TempDir(), "recorded")
	t.Log(sentinelOut(t, append([]string{"record", "--config", cfgFile, "--namespace", ns, "--kubeconfig", env.Kubeconfig, dir}, span...)...))
	replayed := timeline(sentinelOut(t, "simulate", dir))
	fromFile := timeline(sentinelOut(t, append([]string{"backtest", "--config", cfgFile, "--objects",
		filepath.Join(dir, "objects.yaml")}, span...)...))

	// Then: a page caused by kubectl-set and a rollback to revision 1, the
	// same from the cluster, from the recording and from its objects.
	joined := strings.Join(live, "\n")
	for _, want := range []string{"PAGE      " + ns + "/web", "by kubectl-set", "ROLLBACK  " + ns + "/web", "to revision 1"} {
		if !strings.Contains(joined, want) {
			t.Errorf("backtest from the cluster lacks %q:\n%s", want, joined)
		}
	}
	if diff := cmp.Diff(live, replayed); diff != "" {
		t.Errorf("simulate of the recording differs from the backtest (-backtest +simulate):\n%s", diff)
	}
	if diff := cmp.Diff(live, fromFile); diff != "" {
		t.Errorf("backtest --objects of the recorded objects differs (-kubeconfig +objects):\n%s", diff)
	}
}

// waitRevision waits for the Deployment controller to create the
// ReplicaSet of revision n and returns its creation time.
func waitRevision(t *testing.T, kc kubernetes.Interface, ns string, n int) time.Time {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		rss, err := kc.AppsV1().ReplicaSets(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, rs := range rss.Items {
			if rs.Annotations[history.RevisionAnnotation] == fmt.Sprint(n) {
				return rs.CreationTimestamp.Time.UTC()
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no ReplicaSet of revision %d after 60s", n)
	return time.Time{}
}

// waitUntil waits for the wall clock to pass at: the history and the
// traffic must be in the past before they can be backtested.
func waitUntil(t *testing.T, at time.Time) {
	t.Helper()
	if d := time.Until(at); d > 0 {
		t.Logf("waiting %s for history to pass", d.Round(time.Second))
		select {
		case <-time.After(d):
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}
}

// writeTraffic writes 20 req/s to ns/web scraped every 15 s over
// [from, to], 90% of it failing from failAt on, and returns the number
// of samples.
func writeTraffic(t *testing.T, path, ns string, from, to, failAt time.Time) int {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "# TYPE istio_requests counter")
	n := 0
	for _, code := range []string{"200", "500"} {
		var count float64
		for at := from; !at.After(to); at = at.Add(15 * time.Second) {
			ok, failed := 20*15*0.999, 20*15*0.001
			if !at.Before(failAt) {
				ok, failed = 20*15*0.1, 20*15*0.9
			}
			if code == "200" {
				count += ok
			} else {
				count += failed
			}
			fmt.Fprintf(w, "istio_requests_total{destination_workload=\"web\",destination_workload_namespace=%q,pod=\"web-1\",reporter=\"destination\",response_code=%q} %g %d\n",
				ns, code, count, at.Unix())
			n++
		}
	}
	fmt.Fprintln(w, "# EOF")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return n
}
