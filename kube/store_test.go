package kube

import (
	"maps"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// TestStoreRelist: the store keeps no objects, so a relist (the
// reflector's Replace, after a watch was cut for too long) must tell by
// name alone which objects went meanwhile, pass on only the objects that
// changed, and take tombstones as deletes.
func TestStoreRelist(t *testing.T) {
	var got []string
	s := newStore(kind[*appsv1.Deployment]{
		name:    "deployments",
		owner:   func(*appsv1.Deployment) string { return "" },
		observe: func(d *appsv1.Deployment) { got = append(got, "observe "+d.Name+" at "+d.ResourceVersion) },
		forget:  func(ns, name, _ string) { got = append(got, "forget "+ns+"/"+name) },
	})
	dep := func(name, rv string) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, ResourceVersion: rv}}
	}
	listed := func(name, rv string) *metav1.PartialObjectMetadata {
		return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, ResourceVersion: rv}}
	}
	for _, d := range []*appsv1.Deployment{dep("web", "1"), dep("api", "1"), dep("batch", "1")} {
		if err := s.Add(d); err != nil {
			t.Fatal(err)
		}
	}
	if s.hasSynced() {
		t.Error("synced before a list")
	}
	// The relist's pages observed web again unchanged and api changed (as
	// listPages does), then name what they listed: batch went meanwhile.
	for _, d := range []*appsv1.Deployment{dep("web", "1"), dep("api", "2")} {
		if err := s.Update(d); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Replace([]any{listed("web", "1"), listed("api", "2")}, "2"); err != nil {
		t.Fatal(err)
	}
	if !s.hasSynced() {
		t.Error("not synced after a list")
	}
	if err := s.Delete(cache.DeletedFinalStateUnknown{Key: "shop/api", Obj: dep("api", "2")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(dep("gone-before", "3")); err != nil {
		t.Fatal(err) // never seen: nothing to forget
	}
	if err := s.Add(&appsv1.ReplicaSet{}); err == nil {
		t.Error("a ReplicaSet in the Deployments' store: no error")
	}
	want := []string{"observe web at 1", "observe api at 1", "observe batch at 1", "observe api at 2", "forget shop/batch", "forget shop/api"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sink (-want +got):\n%s", diff)
	}
	if keys := slices.Sorted(maps.Keys(s.known)); !slices.Equal(keys, []string{"shop/web"}) {
		t.Errorf("store keeps %v, want shop/web alone", keys)
	}
}
