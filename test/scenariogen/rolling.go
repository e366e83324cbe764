package scenariogen

import "time"

// RollingUpdate describes the replay bundled as examples/rolling-update:
// shop/checkout, 10 pods released by Helm, gets a `kubectl set image` at
// 10:20 that rolls out one pod a minute; every new pod fails 95% of its
// requests with 500s while the old pods keep serving cleanly. The rollout
// completes at 10:29:20, and a person runs `kubectl rollout undo` at
// 10:40. Judged per revision, sentinel pages and rolls back while most
// pods are still old, minutes before the workload as a whole crosses half
// its requests failing (about 10:25). Two neighbours stay healthy, one of
// them upgraded by Helm during the incident.
func RollingUpdate() *Scenario {
	at := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err) // constants below
		}
		return t
	}
	s := New(Options{Start: at("2026-06-02T10:00:00Z"), End: at("2026-06-02T11:00:00Z"), Step: 15 * time.Second,
		Seed: 2026, MinimalLabels: true})
	co := s.AddWorkload(WorkloadSpec{Namespace: "shop", Name: "checkout", Image: "registry.example/shop/checkout:1.8.0",
		Replicas: 10, RequestRate: 50, Created: at("2026-06-01T09:00:00Z"), Manager: managerHelm,
		RollingStep: time.Minute})
	co.Fail(Failure{Code: "503", Ratio: 0.003})
	co.Fail(Failure{Revisions: []int64{2}, Code: "500", Ratio: 0.95})
	co.SetImage(at("2026-06-02T10:20:00Z"), "kubectl-set", "registry.example/shop/checkout:1.9.0-rc2")
	co.RolloutUndo(at("2026-06-02T10:40:00Z"), "kubectl", 1)

	web := s.AddWorkload(WorkloadSpec{Namespace: "shop", Name: "web", Image: "registry.example/shop/web:3.1.0",
		Replicas: 4, RequestRate: 80, Created: at("2026-05-28T12:00:00Z"), Manager: managerHelm, RollingStep: 30 * time.Second})
	web.Fail(Failure{Code: "404", Ratio: 0.02})
	web.SetImage(at("2026-06-02T10:30:00Z"), managerHelm, "registry.example/shop/web:3.2.0")
	s.AddWorkload(WorkloadSpec{Namespace: "shop", Name: "cart", Image: "registry.example/shop/cart:2.3.0",
		Replicas: 2, RequestRate: 20, Created: at("2026-05-30T08:00:00Z"), Manager: managerHelm}).
		Fail(Failure{Code: "503", Ratio: 0.002})
	return s
}
