package scenariogen

import "time"

// Images of the MLI-6574 replay: the healthy release, the image set by
// hand that broke every query, and the five patch images that followed.
const (
	mliRepo       = "registry.example/scale/model-engine:"
	mliGood       = mliRepo + "f395ffa6e1c24b8d9a07c3f51e6b2d48a9c0f713"
	mliBroken     = mliRepo + "04729cef8b3d51a6e09f2c47d18a5b3e6c0f9d21"
	mliNamespace  = "scale-deploy"
	mliFailFrom   = "2026-04-24T23:50:20Z"
	mliWindowFrom = "2026-04-24T23:20:00Z"
	mliWindowTo   = "2026-04-25T01:00:00Z"
)

// mliPatches are the five patch images pushed the same way, and when.
func mliPatches() []struct{ at, image string } {
	return []struct{ at, image string }{
		{"2026-04-25T00:02:00Z", mliRepo + "7a1e5c0b93f2d48e6b17a0c95d3e2f4816b0c7a9"},
		{"2026-04-25T00:09:00Z", mliRepo + "c2d94f7160ab3e85d1f9a2c6073b8e4d5f1a6c38"},
		{"2026-04-25T00:15:00Z", mliRepo + "5e08b3a7d2c1f694e8a0b5d3c7f21e6a9b4d0c57"},
		{"2026-04-25T00:22:00Z", mliRepo + "9b6f2e14a8d03c7b5e91f6a2d4c80b3e7a15f962"},
		{"2026-04-25T00:29:00Z", mliRepo + "e4a17d3c0b9f5862a3d1e7c4b06f8a2d95c3e1b0"},
	}
}

// MLI6574 describes the replay of the MLI-6574 outage
// (docs/incidents/mli-6574.md) bundled as examples/mli-6574:
// scale-deploy/model-engine, released by Helm, gets a `kubectl set image`
// at 23:50 whose pods fail ~97% of requests with 500s, five more patch
// images the same way, and a manual `kubectl rollout undo` at 00:48; two
// Helm-deployed neighbours stay healthy throughout.
func MLI6574() *Scenario {
	at := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err) // constants above
		}
		return t
	}
	s := New(Options{Start: at(mliWindowFrom), End: at(mliWindowTo), Step: 15 * time.Second, Seed: 6574})

	me := s.AddWorkload(WorkloadSpec{Namespace: mliNamespace, Name: "model-engine", Image: mliGood,
		Replicas: 2, RequestRate: 40, Created: at("2026-04-24T21:00:00Z"), Manager: managerHelm})
	// Every revision: clients asking for endpoints that do not exist, and
	// the odd overloaded replica.
	me.Fail(Failure{Code: "404", Ratio: 0.015})
	me.Fail(Failure{Code: "503", Ratio: 0.002})
	// The images set by hand: every query hits the missing column.
	me.Fail(Failure{Revisions: []int64{2, 3, 4, 5, 6, 7}, From: at(mliFailFrom), Code: "500", Ratio: 0.97})
	me.SetImage(at("2026-04-24T23:50:00Z"), "kubectl-set", mliBroken)
	for _, p := range mliPatches() {
		me.SetImage(at(p.at), "kubectl-set", p.image)
	}
	me.RolloutUndo(at("2026-04-25T00:48:00Z"), "kubectl", 1)

	s.AddWorkload(WorkloadSpec{Namespace: mliNamespace, Name: "gateway", Image: "registry.example/scale/gateway:1.14.2",
		Replicas: 2, RequestRate: 25, Created: at("2026-04-21T15:12:00Z"), Manager: managerHelm}).
		Fail(Failure{Code: "404", Ratio: 0.01}).
		Fail(Failure{Code: "503", Ratio: 0.002})
	s.AddWorkload(WorkloadSpec{Namespace: mliNamespace, Name: "batch-api", Image: "registry.example/scale/batch-api:2026.04.23-1",
		Replicas: 1, RequestRate: 5, Created: at("2026-04-23T10:40:00Z"), Manager: managerHelm}).
		Fail(Failure{Code: "404", Ratio: 0.02}).
		Fail(Failure{Code: "503", Ratio: 0.004})
	return s
}
