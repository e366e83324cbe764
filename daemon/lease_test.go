package daemon

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	testingclock "k8s.io/utils/clock/testing"
)

func TestLeaseWatch(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	client := fake.NewClientset()
	leases := client.CoordinationV1().Leases("sentinel")
	w := newLeaseWatch(leases, "sentinel", 15*time.Second, 2*time.Second, clk)
	renew := func() {
		t.Helper()
		now := metav1.NewMicroTime(clk.Now())
		l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "sentinel", Namespace: "sentinel"},
			Spec: coordinationv1.LeaseSpec{RenewTime: &now}}
		if _, err := leases.Update(t.Context(), l, metav1.UpdateOptions{}); err != nil {
			if _, err := leases.Create(t.Context(), l, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var got []bool
	step := func(d time.Duration, renewed bool) {
		clk.Step(d)
		if renewed {
			renew()
		}
		w.read(t.Context())
		got = append(got, w.leaderless())
	}
	step(10*time.Second, false) // no Lease yet, within a lease duration of start
	step(10*time.Second, false) // still none after 20 s: leaderless
	step(time.Second, true)     // a leader renews
	step(10*time.Second, true)
	step(10*time.Second, false) // 10 s without a renewal: still a leader
	step(10*time.Second, false) // 20 s: leaderless
	client.PrependReactor("get", "leases", func(action k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	step(time.Second, false) // unreadable: stays leaderless
	want := []bool{false, true, false, false, false, true, true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("leaderless (-want +got):\n%s", diff)
	}
}
