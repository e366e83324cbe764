package e2e

import (
	"testing"

	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/sentinel-sre/sentinel/detector"
)

func clockReal() clock.Clock { return clock.RealClock{} }
func nopLog() *zap.Logger    { return zap.NewNop() }

func workload(ns string) detector.Workload { return detector.Workload{Namespace: ns, Name: "demo"} }

func (c *cluster) firstReplicaSet(t *testing.T, ns string) *appsv1.ReplicaSet {
	t.Helper()
	rss, err := c.client.AppsV1().ReplicaSets(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil || len(rss.Items) == 0 {
		t.Fatalf("replicasets in %s: %v", ns, err)
	}
	return &rss.Items[0]
}
