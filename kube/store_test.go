package kube

import (
	"context"
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

// TestListPagesReadsNotOlderThan: a relist from the last resourceVersion
// seen must not read the past. A paged list at a resourceVersion is read
// exactly there unless asked for not older than it, and after an API
// server restart that past is gone from the watch cache
// (TestWatchSurvivesAPIServerRestart in test/e2e is the live check).
func TestListPagesReadsNotOlderThan(t *testing.T) {
	s := newStore(kind[*appsv1.Deployment]{name: "deployments",
		owner: func(*appsv1.Deployment) string { return "" }, observe: func(*appsv1.Deployment) {}, forget: func(_, _, _ string) {}})
	for _, tc := range []struct {
		rv    string
		first metav1.ListOptions
	}{
		{"0", metav1.ListOptions{Limit: listPage}}, // the watch cache answers "0" unpaged
		{"", metav1.ListOptions{Limit: listPage}},
		{"225", metav1.ListOptions{Limit: listPage, ResourceVersion: "225", ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan}},
	} {
		var asked []metav1.ListOptions
		list := func(_ context.Context, o metav1.ListOptions) ([]*appsv1.Deployment, metav1.ListMeta, error) {
			asked = append(asked, o)
			if o.Continue == "" {
				return nil, metav1.ListMeta{ResourceVersion: "230", Continue: "page-2"}, nil
			}
			return nil, metav1.ListMeta{ResourceVersion: "230"}, nil
		}
		out, err := s.listPages(t.Context(), list, metav1.ListOptions{ResourceVersion: tc.rv})
		if err != nil {
			t.Fatal(err)
		}
		// The next page carries only the continue token: the API server
		// refuses a resourceVersion with it.
		want := []metav1.ListOptions{tc.first, {Limit: listPage, Continue: "page-2"}}
		if diff := cmp.Diff(want, asked); diff != "" {
			t.Errorf("relist from %q: list options (-want +got):\n%s", tc.rv, diff)
		}
		if out.ResourceVersion != "230" || out.Continue != "" {
			t.Errorf("relist from %q: list meta %+v, want the first page's resourceVersion and no continue", tc.rv, out.ListMeta)
		}
	}
}
