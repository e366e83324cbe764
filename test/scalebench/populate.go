package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/sentinel-sre/sentinel/history"
)

// Field managers as in a real cluster: kubectl apply made the
// Deployments, the Deployment controller the ReplicaSets.
const (
	applyManager      = "kubectl-client-side-apply"
	controllerManager = "kube-controller-manager"
)

// Populate creates s's namespaces, Deployments and ReplicaSets with
// workers parallel requests, and returns how many objects it made. Each
// Deployment is created paused and without replicas, its ReplicaSets are
// created directly, owned by it (the controller keeps owned ReplicaSets up
// to revisionHistoryLimit), and once the controller has seen them it is
// resumed: the controller finds its current template's ReplicaSet among
// them and creates neither a ReplicaSet nor a pod.
func Populate(ctx context.Context, client kubernetes.Interface, s Shape, workers int) (int, error) {
	for n := range s.Namespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("team-%03d", n)}}
		if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return 0, fmt.Errorf("create namespace %s: %w", ns.Name, err)
		}
	}
	var (
		made atomic.Int64
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				n, err := s.populateOne(ctx, client, i)
				made.Add(int64(n))
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for i := range s.Deployments {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		return int(made.Load()), fmt.Errorf("%d of %d deployments not made, the first: %w", len(errs), s.Deployments, errs[0])
	}
	return int(made.Load()), ctx.Err()
}

// populateOne makes Deployment i and its ReplicaSets.
func (s Shape) populateOne(ctx context.Context, client kubernetes.Interface, i int) (int, error) {
	want := s.Deployment(i)
	deps := client.AppsV1().Deployments(want.Namespace)
	d, err := deps.Create(ctx, want, metav1.CreateOptions{FieldManager: applyManager})
	if err != nil {
		return 0, fmt.Errorf("create deployment %s/%s: %w", want.Namespace, want.Name, err)
	}
	made := 1
	rss := client.AppsV1().ReplicaSets(d.Namespace)
	for rev := 1; rev <= s.ReplicaSets; rev++ {
		rs := s.ReplicaSet(d, rev)
		if _, err := rss.Create(ctx, rs, metav1.CreateOptions{FieldManager: controllerManager}); err != nil {
			return made, fmt.Errorf("create replicaset %s/%s: %w", rs.Namespace, rs.Name, err)
		}
		made++
	}
	// Resumed before the controller has seen its ReplicaSets, it would make
	// one more for the current template. Seeing them, it copies the current
	// one's revision onto the Deployment.
	rev := strconv.Itoa(s.ReplicaSets)
	for d.Annotations[history.RevisionAnnotation] != rev {
		select {
		case <-ctx.Done():
			return made, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if d, err = deps.Get(ctx, d.Name, metav1.GetOptions{}); err != nil {
			return made, fmt.Errorf("get deployment %s/%s: %w", want.Namespace, want.Name, err)
		}
	}
	resume := []byte(`{"spec":{"paused":false}}`)
	if _, err := deps.Patch(ctx, d.Name, types.StrategicMergePatchType, resume, metav1.PatchOptions{FieldManager: applyManager}); err != nil {
		return made, fmt.Errorf("resume deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	return made, nil
}
