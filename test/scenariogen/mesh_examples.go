package scenariogen

import (
	"time"

	"github.com/sentinel-sre/sentinel/config"
)

// mustTime parses the RFC 3339 constants of the bundled scenarios.
func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err) // constants
	}
	return t
}

// GRPC describes the replay bundled as examples/grpc: payments/ledger, a
// gRPC service of 3 pods released by Helm, gets a `kubectl set image` at
// 14:15 whose pods answer 90% of their calls UNAVAILABLE (14) with HTTP
// 200, as Envoy reports a failed call; a person runs `kubectl rollout
// undo` at 14:35. Its neighbour payments/catalog gets a `kubectl set
// image` at 14:05 after which 90% of its calls answer NOT_FOUND (5): a
// client-side status, which never counts. payments/web, plain HTTP, stays
// healthy.
func GRPC() *Scenario {
	at := mustTime
	s := New(Options{Start: at("2026-07-14T14:00:00Z"), End: at("2026-07-14T14:45:00Z"), Step: 15 * time.Second, Seed: 14})
	ledger := s.AddWorkload(WorkloadSpec{Namespace: "payments", Name: "ledger", Image: "registry.example/payments/ledger:4.2.0",
		Replicas: 3, RequestRate: 30, Created: at("2026-07-10T09:00:00Z"), Manager: managerHelm, GRPC: true,
		Source: "web", SourceNamespace: "payments"})
	ledger.Fail(Failure{GRPC: "5", Ratio: 0.01})  // NOT_FOUND: accounts that do not exist
	ledger.Fail(Failure{GRPC: "4", Ratio: 0.002}) // DEADLINE_EXCEEDED now and then
	ledger.Fail(Failure{Revisions: []int64{2}, GRPC: "14", Ratio: 0.9})
	ledger.SetImage(at("2026-07-14T14:15:00Z"), "kubectl-set", "registry.example/payments/ledger:4.3.0-rc1")
	ledger.RolloutUndo(at("2026-07-14T14:35:00Z"), "kubectl", 1)

	catalog := s.AddWorkload(WorkloadSpec{Namespace: "payments", Name: "catalog", Image: "registry.example/payments/catalog:2.0.1",
		Replicas: 2, RequestRate: 20, Created: at("2026-07-11T10:00:00Z"), Manager: managerHelm, GRPC: true,
		Source: "web", SourceNamespace: "payments"})
	catalog.Fail(Failure{GRPC: "5", Ratio: 0.02})
	catalog.Fail(Failure{Revisions: []int64{2}, GRPC: "5", Ratio: 0.88})
	catalog.SetImage(at("2026-07-14T14:05:00Z"), "kubectl-set", "registry.example/payments/catalog:2.1.0")

	s.AddWorkload(WorkloadSpec{Namespace: "payments", Name: "web", Image: "registry.example/payments/web:7.3.0",
		Replicas: 2, RequestRate: 40, Created: at("2026-07-12T08:00:00Z"), Manager: managerHelm}).
		Fail(Failure{Code: "404", Ratio: 0.01}).
		Fail(Failure{Code: "503", Ratio: 0.002})
	return s
}

// Linkerd describes the replay bundled as examples/linkerd: the
// examples/rolling-update story told by Linkerd's proxies, a week later
// (so a Prometheus holding both never mixes them). shop/checkout,
// 10 pods meshed by Linkerd, gets a `kubectl set image` at 10:20 that
// rolls out one pod a minute; every new pod fails 95% of its requests
// with 500s (classification="failure") while the old ones serve cleanly,
// and a person runs `kubectl rollout undo` at 10:40. The series carry
// the pod_template_hash linkerd-viz's scrape copies from each pod, so
// sentinel judges the new pods by their own series, minutes before the
// workload as a whole crosses half its requests failing (about 10:25).
// shop/cart, a gRPC service, answers NOT_FOUND to a few calls and never
// pages.
func Linkerd() *Scenario {
	at := mustTime
	s := New(Options{Start: at("2026-06-09T10:00:00Z"), End: at("2026-06-09T11:00:00Z"), Step: 15 * time.Second,
		Seed: 5, Mesh: config.MeshLinkerd})
	co := s.AddWorkload(WorkloadSpec{Namespace: "shop", Name: "checkout", Image: "registry.example/shop/checkout:1.8.0",
		Replicas: 10, RequestRate: 50, Created: at("2026-06-08T09:00:00Z"), Manager: managerHelm, RollingStep: time.Minute})
	co.Fail(Failure{Code: "503", Ratio: 0.003})
	co.Fail(Failure{Revisions: []int64{2}, Code: "500", Ratio: 0.95})
	co.SetImage(at("2026-06-09T10:20:00Z"), "kubectl-set", "registry.example/shop/checkout:1.9.0-rc2")
	co.RolloutUndo(at("2026-06-09T10:40:00Z"), "kubectl", 1)

	s.AddWorkload(WorkloadSpec{Namespace: "shop", Name: "cart", Image: "registry.example/shop/cart:2.3.0",
		Replicas: 2, RequestRate: 20, Created: at("2026-06-06T08:00:00Z"), Manager: managerHelm, GRPC: true}).
		Fail(Failure{GRPC: "5", Ratio: 0.05}).
		Fail(Failure{GRPC: "14", Ratio: 0.002})
	return s
}
