package history

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/workload"
)

var (
	t0   = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	cart = workload.Ref{Namespace: "shop", Name: "cart"}
)

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

// entry is a managedFields entry owning the given fieldsV1 JSON.
func entry(manager string, min int, fields string) metav1.ManagedFieldsEntry {
	tm := metav1.NewTime(at(min))
	return metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate,
		APIVersion: "apps/v1", FieldsType: "FieldsV1", Time: &tm, FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)}}
}

const (
	helmFields  = `{"f:spec":{"f:replicas":{},"f:template":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"cart\"}":{".":{},"f:image":{},"f:name":{},"f:env":{}}}}}}}`
	imageFields = `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"cart\"}":{"f:image":{}}}}}}}`
	envFields   = `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"cart\"}":{"f:env":{"k:{\"name\":\"MODE\"}":{".":{},"f:name":{},"f:value":{}}}}}}}}}`
	statusKCM   = `{"f:metadata":{"f:annotations":{"f:deployment.kubernetes.io/revision":{}}}}`
)

func template(image, mode string) corev1.PodTemplateSpec {
	c := corev1.Container{Name: "cart", Image: image}
	if mode != "" {
		c.Env = []corev1.EnvVar{{Name: "MODE", Value: mode}}
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "cart"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{c}},
	}
}

func deploy(rv int, rev int, tmpl corev1.PodTemplateSpec, mf ...metav1.ManagedFieldsEntry) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "cart", Namespace: "shop", UID: "uid-cart",
			ResourceVersion: strconv.Itoa(rv), ManagedFields: mf,
			Annotations: map[string]string{RevisionAnnotation: strconv.Itoa(rev)}},
		Spec: appsv1.DeploymentSpec{Template: tmpl},
	}
}

func newRS(owner string, rev int, tmpl corev1.PodTemplateSpec) *appsv1.ReplicaSet {
	t := *tmpl.DeepCopy()
	t.Labels[PodTemplateHash] = fmt.Sprintf("hash%d", rev)
	yes := true
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-hash%d", owner, rev), Namespace: "shop",
			Annotations:     map[string]string{RevisionAnnotation: strconv.Itoa(rev)},
			OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: owner, UID: types.UID("uid-" + owner), Controller: &yes}}},
		Spec: appsv1.ReplicaSetSpec{Template: t},
	}
}

var (
	v1      = template("registry.example/cart:2.3.0", "")
	v2      = template("registry.example/cart:2.4.0-rc1", "")
	v1Env   = template("registry.example/cart:2.3.0", "debug")
	helmRel = entry("helm", 0, helmFields)
	kcm     = entry("kube-controller-manager", 0, statusKCM)
)

// history replays: helm creates rev 1 at minute 0, then the given steps.
func newTracker(steps ...func(*Tracker)) *Tracker {
	tr := New(Options{HealthyFor: 5 * time.Minute})
	tr.ObserveDeployment(deploy(1, 1, v1, helmRel, kcm), at(0))
	tr.ObserveReplicaSet(newRS("cart", 1, v1))
	for _, s := range steps {
		s(tr)
	}
	return tr
}

func TestAttribution(t *testing.T) {
	cases := []struct {
		name         string
		next         *appsv1.Deployment
		rs           *appsv1.ReplicaSet
		wantManager  string
		wantImage    bool
		wantFields   string
		wantRevision int64
	}{
		{
			name:        "kubectl set image",
			next:        deploy(2, 2, v2, helmRel, entry("kubectl-set", 45, imageFields), kcm),
			rs:          newRS("cart", 2, v2),
			wantManager: "kubectl-set", wantImage: true, wantFields: "[containers[cart].image]", wantRevision: 2,
		},
		{
			name:        "kubectl set env changes no image",
			next:        deploy(2, 2, v1Env, helmRel, entry("kubectl-set", 45, envFields), kcm),
			rs:          newRS("cart", 2, v1Env),
			wantManager: "kubectl-set", wantImage: false, wantFields: "[containers[cart].env]", wantRevision: 2,
		},
		{
			name:        "helm upgrade",
			next:        deploy(2, 2, v2, entry("helm", 45, helmFields), kcm),
			rs:          newRS("cart", 2, v2),
			wantManager: "helm", wantImage: true, wantFields: "[containers[cart].image]", wantRevision: 2,
		},
		{
			name: "newest owner of the image wins",
			next: deploy(2, 2, v2, entry("argocd-controller", 30, imageFields), entry("kubectl-set", 45, imageFields),
				entry("helm", 40, helmFields), kcm),
			rs:          newRS("cart", 2, v2),
			wantManager: "kubectl-set", wantImage: true, wantFields: "[containers[cart].image]", wantRevision: 2,
		},
		{
			name:        "revision comes from the Deployment while no ReplicaSet is seen",
			next:        deploy(2, 2, v2, helmRel, entry("kubectl-set", 45, imageFields), kcm),
			wantManager: "kubectl-set", wantImage: true, wantFields: "[containers[cart].image]", wantRevision: 2,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker()
			if tc.rs != nil {
				tr.ObserveReplicaSet(tc.rs)
			}
			c, ok := tr.ObserveDeployment(tc.next, at(45))
			if !ok {
				t.Fatal("no change reported")
			}
			want := changeView{Found: true, At: at(45), Manager: tc.wantManager, ImageChanged: tc.wantImage,
				Fields: tc.wantFields, Revision: tc.wantRevision}
			if diff := cmp.Diff(want, view(c, ok)); diff != "" {
				t.Errorf("change (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]changeView{want}, views(tr.Changes(cart, at(1), at(46)))); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	}
}

// changeView is what a test pins of a Change.
type changeView struct {
	Found        bool
	At           time.Time
	Manager      string
	ImageChanged bool
	Fields       string // fmt.Sprint of Change.Fields
	Revision     int64
}

func view(c Change, ok bool) changeView {
	if !ok {
		return changeView{}
	}
	return changeView{Found: true, At: c.At, Manager: c.Manager, ImageChanged: c.ImageChanged,
		Fields: fmt.Sprint(c.Fields), Revision: c.Revision}
}

func views(cs []Change) []changeView {
	var out []changeView
	for _, c := range cs {
		out = append(out, view(c, true))
	}
	return out
}

func TestStatusUpdatesAndResyncsAreNotChanges(t *testing.T) {
	tr := newTracker()
	if _, ok := tr.ObserveDeployment(deploy(1, 1, v1, helmRel, kcm), at(1)); ok {
		t.Error("resync (same resourceVersion) reported as a change")
	}
	status := deploy(7, 1, v1, helmRel, entry("kube-controller-manager", 2, statusKCM))
	status.Status.ReadyReplicas = 3
	status.Spec.Replicas = ptr(int32(5)) // scaling is not a template change either
	if _, ok := tr.ObserveDeployment(status, at(2)); ok {
		t.Error("status/scale update reported as a change")
	}
	// The only change is still helm's creation of revision 1.
	want := []changeView{{Found: true, At: at(0), Manager: "helm", Fields: "[]", Revision: 1}}
	if diff := cmp.Diff(want, views(tr.Changes(cart, at(0), at(3)))); diff != "" {
		t.Errorf("changes, want helm's creation of revision 1 alone (-want +got):\n%s", diff)
	}
}

func ptr[T any](v T) *T { return &v }

func TestChangesWindow(t *testing.T) {
	tr := newTracker(func(tr *Tracker) {
		tr.ObserveReplicaSet(newRS("cart", 2, v2))
		tr.ObserveDeployment(deploy(2, 2, v2, helmRel, entry("kubectl-set", 45, imageFields), kcm), at(45))
	})
	cases := []struct {
		name     string
		w        workload.Ref
		from, to time.Time
		want     bool
	}{
		{"made inside the window", cart, at(31), at(46), true},
		{"made at the window's end", cart, at(30), at(45), true},
		{"made at the window's start", cart, at(45), at(60), true},
		{"made after the window", cart, at(29), at(44), false},
		{"made before the window", cart, at(46), at(61), false},
		{"a neighbour's changes are its own", workload.Ref{Namespace: "shop", Name: "web"}, at(31), at(46), false},
		{"same name, other namespace", workload.Ref{Namespace: "other", Name: "cart"}, at(31), at(46), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var want []changeView
			if tc.want {
				want = []changeView{{Found: true, At: at(45), Manager: "kubectl-set", ImageChanged: true,
					Fields: "[containers[cart].image]", Revision: 2}}
			}
			if diff := cmp.Diff(want, views(tr.Changes(tc.w, tc.from, tc.to))); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	}
}

// Each change is compared with the template it replaced.
func TestChangesFollowOneAnother(t *testing.T) {
	v3 := template("registry.example/cart:2.4.0-rc2", "")
	tr := newTracker(func(tr *Tracker) {
		tr.ObserveDeployment(deploy(2, 2, v2, helmRel, entry("kubectl-set", 40, imageFields), kcm), at(40))
		tr.ObserveDeployment(deploy(3, 3, v3, helmRel, entry("kubectl-set", 50, imageFields), kcm), at(50))
	})
	cs := tr.Changes(cart, at(1), at(55))
	type images struct{ Revision, Before, After string }
	var got []images
	for _, c := range cs {
		got = append(got, images{fmt.Sprint(c.Revision), fmt.Sprint(Names(c.ImagesBefore)), fmt.Sprint(Names(c.ImagesAfter))})
	}
	want := []images{
		{"2", "[registry.example/cart:2.3.0]", "[registry.example/cart:2.4.0-rc1]"},
		{"3", "[registry.example/cart:2.4.0-rc1]", "[registry.example/cart:2.4.0-rc2]"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}

// sentinel started after the bad change: the first sight is attributed
// from the ReplicaSets and managedFields.
func TestFirstSightAttribution(t *testing.T) {
	tr := New(Options{HealthyFor: 5 * time.Minute})
	tr.ObserveDeployment(deploy(2, 2, v2, helmRel, entry("kubectl-set", 45, imageFields), kcm), at(47))
	tr.ObserveReplicaSet(newRS("cart", 1, v1))
	tr.ObserveReplicaSet(newRS("cart", 2, v2))
	cs := tr.Changes(cart, at(0), at(48))
	want := []changeView{{Found: true, At: at(45), Manager: "kubectl-set", ImageChanged: true,
		Fields: "[containers[cart].image]", Revision: 2}}
	if diff := cmp.Diff(want, views(cs)); diff != "" {
		t.Fatalf("changes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Image{{Container: "cart", Image: "registry.example/cart:2.3.0"}}, cs[0].ImagesBefore); diff != "" {
		t.Errorf("images before (-want +got):\n%s", diff)
	}
}

func TestRollbackUndoIsAttributedToKubectl(t *testing.T) {
	tr := newTracker(func(tr *Tracker) {
		tr.ObserveReplicaSet(newRS("cart", 2, v2))
		tr.ObserveDeployment(deploy(2, 2, v2, helmRel, entry("kubectl-set", 45, imageFields), kcm), at(45))
	})
	c, ok := tr.ObserveDeployment(deploy(3, 3, v1, helmRel, entry("kubectl-set", 45, `{}`), entry("kubectl", 60, imageFields), kcm), at(60))
	got := view(c, ok)
	got.Fields, got.Revision = "", 0
	if diff := cmp.Diff(changeView{Found: true, At: at(60), Manager: "kubectl", ImageChanged: true}, got); diff != "" {
		t.Errorf("undo (-want +got):\n%s", diff)
	}
}

// revisionView is a revision's number and whether it earned its health.
type revisionView struct {
	Revision int64
	Healthy  bool
}

func viewRevisions(revs []Revision) []revisionView {
	var out []revisionView
	for _, r := range revs {
		out = append(out, revisionView{r.Revision, r.Healthy})
	}
	return out
}

func TestHealthAndRevisions(t *testing.T) {
	v3 := template("registry.example/cart:2.5.0", "")
	healthyFor := func(tr *Tracker, from, minutes int, ok bool) {
		for s := 0; s <= minutes*4; s++ {
			tr.RecordHealth(at(from).Add(time.Duration(s)*15*time.Second), judge(ok))
		}
	}
	tr := newTracker()
	healthyFor(tr, 0, 6, true) // rev 1 healthy for 6 minutes
	tr.ObserveReplicaSet(newRS("cart", 2, v2))
	tr.ObserveDeployment(deploy(2, 2, v2, helmRel, entry("kubectl-set", 10, imageFields), kcm), at(10))
	healthyFor(tr, 10, 10, false) // rev 2 never healthy
	tr.ObserveReplicaSet(newRS("cart", 3, v3))
	tr.ObserveDeployment(deploy(3, 3, v3, helmRel, entry("kubectl-set", 30, imageFields), kcm), at(30))

	revs := tr.Revisions(cart)
	if diff := cmp.Diff([]revisionView{{2, false}, {1, true}}, viewRevisions(revs)); diff != "" {
		t.Fatalf("revisions (-want +got):\n%s", diff)
	}
	if _, ok := revs[1].Template.Labels[PodTemplateHash]; ok {
		t.Error("target template keeps pod-template-hash")
	}
	d, _ := tr.Deployment(cart)
	if diff := cmp.Diff(int64(3), d.Revision); diff != "" {
		t.Errorf("deployment revision (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Image{{Container: "cart", Image: "registry.example/cart:2.5.0"}}, d.Images); diff != "" {
		t.Errorf("deployment images (-want +got):\n%s", diff)
	}
}

func TestHealthNeedsAnUnbrokenStreak(t *testing.T) {
	tr := newTracker()
	ok := true
	for s := 0; s <= 40; s++ { // 10 minutes, one unknown poll every 4 minutes
		ok = s%16 != 15
		tr.RecordHealth(at(0).Add(time.Duration(s)*15*time.Second), judge(ok))
	}
	tr.ObserveReplicaSet(newRS("cart", 2, v2))
	tr.ObserveDeployment(deploy(2, 2, v2, helmRel, entry("kubectl-set", 20, imageFields), kcm), at(20))
	if diff := cmp.Diff([]revisionView{{1, false}}, viewRevisions(tr.Revisions(cart))); diff != "" {
		t.Errorf("revisions: a broken streak must not count as 5 healthy minutes (-want +got):\n%s", diff)
	}
}

func TestDeleteReplicaSetBoundsMemory(t *testing.T) {
	tr := newTracker(func(tr *Tracker) {
		tr.RecordHealth(at(1), judge(true))
		tr.ObserveReplicaSet(newRS("cart", 2, v2))
		tr.ObserveDeployment(deploy(2, 2, v2, helmRel, entry("kubectl-set", 10, imageFields), kcm), at(10))
	})
	tr.DeleteReplicaSet("shop", "cart-hash1", "cart")
	d := tr.deployments[cart]
	if len(d.rs) != 1 || len(d.health) != 0 {
		t.Errorf("after delete: %d replicasets, %d health entries", len(d.rs), len(d.health))
	}
	tr.DeleteDeployment("shop", "cart")
	if _, ok := tr.Deployment(cart); ok {
		t.Error("deleted deployment still known")
	}
}

func TestChangesAreBounded(t *testing.T) {
	tr := New(Options{HealthyFor: time.Minute, MaxChanges: 4})
	for i := 0; i < 20; i++ {
		tr.ObserveDeployment(deploy(i+1, i+1, template(fmt.Sprintf("img:%d", i), ""), entry("kubectl-set", i, imageFields)), at(i))
	}
	if n := len(tr.deployments[cart].changes); n != 4 {
		t.Errorf("%d changes kept, want 4", n)
	}
}

func TestFingerprintIgnoresPodTemplateHash(t *testing.T) {
	rs := newRS("cart", 1, v1)
	if Fingerprint(&rs.Spec.Template) != Fingerprint(&v1) {
		t.Error("a ReplicaSet's template and its Deployment's differ by fingerprint")
	}
	if Fingerprint(&v1) == Fingerprint(&v2) {
		t.Error("different images, same fingerprint")
	}
}

func scaled(rs *appsv1.ReplicaSet, n int32) *appsv1.ReplicaSet {
	rs = rs.DeepCopy()
	rs.Spec.Replicas = &n
	return rs
}

// A rollout stuck with the old pods still serving must not credit their
// health to the new template.
func TestStuckRolloutEarnsNoHealth(t *testing.T) {
	v3 := template("registry.example/cart:3", "")
	tr := newTracker()
	tr.ObserveReplicaSet(scaled(newRS("cart", 1, v1), 3))
	tr.ObserveReplicaSet(scaled(newRS("cart", 2, v2), 1)) // crash-looping, never available
	tr.ObserveDeployment(deploy(2, 2, v2, helmRel, entry("kubectl-set", 10, imageFields), kcm), at(10))
	for s := 0; s <= 10*4; s++ { // ten minutes of clean metrics, all from the old pods
		tr.RecordHealth(at(10).Add(time.Duration(s)*15*time.Second), judge(true))
	}
	tr.ObserveReplicaSet(newRS("cart", 3, v3))
	tr.ObserveDeployment(deploy(3, 3, v3, helmRel, entry("kubectl-set", 30, imageFields), kcm), at(30))
	for _, r := range tr.Revisions(cart) {
		if r.Revision == 2 && r.Healthy {
			t.Error("the stuck revision 2 was credited with the old pods' health")
		}
	}
}

func TestInitContainerImageIsAnImageChange(t *testing.T) {
	withInit := func(img string) corev1.PodTemplateSpec {
		t := template("registry.example/cart:2.3.0", "")
		t.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: img}}
		return t
	}
	initImage := `{"f:spec":{"f:template":{"f:spec":{"f:initContainers":{"k:{\"name\":\"migrate\"}":{"f:image":{}}}}}}}`
	tr := New(Options{HealthyFor: time.Minute})
	tr.ObserveDeployment(deploy(1, 1, withInit("migrate:1"), helmRel), at(0))
	c, ok := tr.ObserveDeployment(deploy(2, 2, withInit("migrate:2"), helmRel, entry("kubectl-set", 5, initImage)), at(5))
	want := changeView{Found: true, At: at(5), Manager: "kubectl-set", ImageChanged: true,
		Fields: "[initContainers[migrate].image]", Revision: 2}
	if diff := cmp.Diff(want, view(c, ok)); diff != "" {
		t.Errorf("change (-want +got):\n%s", diff)
	}
	if c.ImagesAfter[0] != (Image{Container: "init:migrate", Image: "migrate:2"}) {
		t.Errorf("images %v", c.ImagesAfter)
	}
}

func TestReplicaSetsOfAnUnseenDeploymentAreForgotten(t *testing.T) {
	tr := New(Options{HealthyFor: time.Minute})
	tr.ObserveReplicaSet(newRS("gone", 1, v1))
	if tr.Len() != 0 {
		t.Errorf("Len %d counts a Deployment never seen", tr.Len())
	}
	tr.DeleteReplicaSet("shop", "gone-hash1", "gone")
	if len(tr.deployments) != 0 {
		t.Errorf("%d entries left", len(tr.deployments))
	}
}

// judge is a workload-level judgement of every workload: healthy, or unknown.
func judge(ok bool) func(workload.Ref) Served {
	return func(workload.Ref) Served {
		if ok {
			return ServedHealthy
		}
		return ServedUnknown
	}
}

func TestHealthIsWhatARevisionDidLast(t *testing.T) {
	const minute = time.Minute
	type step struct {
		s    Served
		for_ time.Duration
	}
	cases := []struct {
		name  string
		steps []step
		want  bool
	}{
		{"five healthy minutes earn health", []step{{ServedHealthy, 5 * minute}}, true},
		{"a failing poll after that loses it", []step{{ServedHealthy, 5 * minute}, {ServedFailing, 0}}, false},
		{"a few degraded minutes (a drain's 503s) keep it", []step{{ServedHealthy, 5 * minute}, {ServedDegraded, 4 * minute}}, true},
		{"degraded as long as it takes to earn health loses it", []step{{ServedHealthy, 5 * minute}, {ServedDegraded, 5 * minute}}, false},
		{"degraded streaks broken by healthy polls keep it",
			[]step{{ServedHealthy, 5 * minute}, {ServedDegraded, 4 * minute}, {ServedHealthy, 0}, {ServedDegraded, 4 * minute}}, true},
		{"lost health is earned again", []step{{ServedHealthy, 5 * minute}, {ServedFailing, 0}, {ServedHealthy, 5 * minute}}, true},
		{"unknown polls keep earned health", []step{{ServedHealthy, 5 * minute}, {ServedUnknown, 30 * minute}}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h health
			now := at(0)
			for _, st := range tc.steps {
				end := now.Add(st.for_)
				for ; !now.After(end); now = now.Add(15 * time.Second) {
					h.record(now, st.s, 5*minute)
				}
			}
			if h.healthy != tc.want {
				t.Errorf("healthy = %v, want %v", h.healthy, tc.want)
			}
		})
	}
}

// Reading the changes settles nothing: until Attribute, a first sight is
// attributed against the ReplicaSets known at each read; after it, the
// attribution stays as settled.
func TestChangesOnlyReads(t *testing.T) {
	tr := New(Options{HealthyFor: 5 * time.Minute})
	tr.ObserveDeployment(deploy(2, 2, v2, helmRel, entry("kubectl-set", 45, imageFields), kcm), at(47))
	unknown := []changeView{{Found: true, At: at(45), Manager: "kubectl-set", Fields: "[]", Revision: 2}}
	if diff := cmp.Diff(unknown, views(tr.Changes(cart, at(0), at(48)))); diff != "" {
		t.Errorf("before the older ReplicaSet is seen (-want +got):\n%s", diff)
	}
	tr.Rollout(cart)
	if c := tr.deployments[cart].changes[0]; c.attributed || c.tmpl == nil {
		t.Fatal("a read settled the first sight's attribution")
	}
	tr.ObserveReplicaSet(newRS("cart", 1, v1))
	tr.ObserveReplicaSet(newRS("cart", 2, v2))
	known := []changeView{{Found: true, At: at(45), Manager: "kubectl-set", ImageChanged: true,
		Fields: "[containers[cart].image]", Revision: 2}}
	if diff := cmp.Diff(known, views(tr.Changes(cart, at(0), at(48)))); diff != "" {
		t.Errorf("once the older ReplicaSet is seen (-want +got):\n%s", diff)
	}
	tr.Attribute()
	if c := tr.deployments[cart].changes[0]; !c.attributed || c.tmpl != nil || c.managed != nil {
		t.Error("Attribute left the first sight unsettled, or kept what it needed for it")
	}
	tr.DeleteReplicaSet("shop", "cart-hash1", "cart")
	if diff := cmp.Diff(known, views(tr.Changes(cart, at(0), at(48)))); diff != "" {
		t.Errorf("after the older ReplicaSet is pruned (-want +got):\n%s", diff)
	}
}

// A change learns its revision when its ReplicaSet is seen, however late,
// and keeps it once the ReplicaSet is pruned.
func TestAChangeKeepsItsRevision(t *testing.T) {
	v3 := template("registry.example/cart:3", "")
	tr := newTracker()
	d2 := deploy(2, 2, v2, helmRel, entry("kubectl-set", 10, imageFields), kcm)
	d2.Generation, d2.Status.ObservedGeneration = 2, 1 // the controller has not made its ReplicaSet yet
	if c, _ := tr.ObserveDeployment(d2, at(10)); c.Revision != 0 {
		t.Fatalf("revision %d before the controller made it", c.Revision)
	}
	tr.ObserveReplicaSet(newRS("cart", 2, v2))
	tr.ObserveDeployment(deploy(3, 3, v3, helmRel, entry("kubectl-set", 20, imageFields), kcm), at(20))
	tr.ObserveReplicaSet(newRS("cart", 3, v3))
	tr.DeleteReplicaSet("shop", "cart-hash2", "cart")
	var got []int64
	for _, c := range tr.Changes(cart, at(1), at(30)) {
		got = append(got, c.Revision)
	}
	if diff := cmp.Diff([]int64{2, 3}, got); diff != "" {
		t.Errorf("revisions (-want +got):\n%s", diff)
	}
}

func TestByNamesTheManager(t *testing.T) {
	if got := (Change{Manager: "helm"}).By(); got != "helm" {
		t.Errorf("By of helm's change = %q", got)
	}
	if got := (Change{}).By(); got != UnknownManager {
		t.Errorf("By of a change no manager is named for = %q, want %q", got, UnknownManager)
	}
}

// WithHealthyRevision counts a Deployment once its template has earned
// health, keeps counting it while that template is an older revision
// (the rollback target of a failing change), and stops when the
// template's last ReplicaSet is gone.
func TestWithHealthyRevisionCountsRollbackTargets(t *testing.T) {
	tr := newTracker()
	var got []int
	tr.RecordHealth(at(0), judge(true))
	got = append(got, tr.WithHealthyRevision())
	tr.RecordHealth(at(5), judge(true)) // five healthy minutes: health earned
	got = append(got, tr.WithHealthyRevision())
	tr.ObserveReplicaSet(newRS("cart", 2, v2))
	tr.ObserveDeployment(deploy(2, 2, v2, helmRel, entry("kubectl-set", 10, imageFields), kcm), at(10))
	got = append(got, tr.WithHealthyRevision())
	tr.DeleteReplicaSet("shop", "cart-hash1", "cart")
	got = append(got, tr.WithHealthyRevision())
	if diff := cmp.Diff([]int{0, 1, 1, 0}, got); diff != "" {
		t.Errorf("deployments with a healthy revision: at the first healthy poll, after five minutes, "+
			"after a change, after revision 1's ReplicaSet went (-want +got):\n%s", diff)
	}
}
