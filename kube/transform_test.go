package kube_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/kube"
)

func fields(raw string) *metav1.FieldsV1 { return &metav1.FieldsV1{Raw: []byte(raw)} }

func TestTrim(t *testing.T) {
	tmplFields := `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{"f:image":{}}}}}}}`
	whole := deployment()
	whole.Annotations["kubectl.kubernetes.io/last-applied-configuration"] = `{"kind":"Deployment"}`
	whole.OwnerReferences = []metav1.OwnerReference{{Kind: "Rollout", Name: "web"}}
	whole.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	whole.Status.AvailableReplicas = 3
	whole.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: "True"}}
	whole.ManagedFields = []metav1.ManagedFieldsEntry{
		{Manager: "kubectl-client-side-apply", Operation: metav1.ManagedFieldsOperationUpdate, FieldsType: "FieldsV1",
			FieldsV1: fields(`{"f:metadata":{"f:annotations":{}},"f:spec":{"f:replicas":{},"f:template":{"f:metadata":{"f:labels":{}}}}}`)},
		{Manager: "kubectl-set", Operation: metav1.ManagedFieldsOperationUpdate, FieldsType: "FieldsV1", FieldsV1: fields(tmplFields)},
		{Manager: "hpa", Operation: metav1.ManagedFieldsOperationUpdate, FieldsType: "FieldsV1", FieldsV1: fields(`{"f:spec":{"f:replicas":{}}}`)},
		{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status",
			FieldsType: "FieldsV1", FieldsV1: fields(`{"f:status":{"f:replicas":{}}}`)},
		{Manager: "broken", Operation: metav1.ManagedFieldsOperationUpdate, FieldsType: "FieldsV1", FieldsV1: fields(`{`)},
	}
	keptDeployment := deployment()
	keptDeployment.Status.AvailableReplicas = 3
	keptDeployment.ManagedFields = []metav1.ManagedFieldsEntry{
		{Manager: "kubectl-client-side-apply", Operation: metav1.ManagedFieldsOperationUpdate, FieldsType: "FieldsV1",
			FieldsV1: fields(`{"f:spec":{"f:template":{"f:metadata":{"f:labels":{}}}}}`)},
		{Manager: "kubectl-set", Operation: metav1.ManagedFieldsOperationUpdate, FieldsType: "FieldsV1", FieldsV1: fields(tmplFields)},
		{Manager: "broken", Operation: metav1.ManagedFieldsOperationUpdate, FieldsType: "FieldsV1", FieldsV1: fields(`{`)},
	}

	rs := replicaSet("web-v1", "1", "v1")
	rs.Labels = map[string]string{"app": "web", "team": "shop", history.PodTemplateHash: "web-v1"}
	rs.Annotations["deployment.kubernetes.io/desired-replicas"] = "3"
	rs.OwnerReferences = append(rs.OwnerReferences, metav1.OwnerReference{Kind: "Other", Name: "x"})
	rs.OwnerReferences[0].BlockOwnerDeletion = ptr.To(true)
	rs.Spec.Replicas = ptr.To(int32(3))
	rs.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	rs.ManagedFields = whole.ManagedFields
	rs.Status = appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 3}
	keptRS := replicaSet("web-v1", "1", "v1")
	keptRS.Labels = map[string]string{history.PodTemplateHash: "web-v1"}
	keptRS.Spec.Replicas = ptr.To(int32(3))
	orphan := replicaSet("lone", "1", "v1")
	orphan.OwnerReferences, orphan.Annotations = nil, nil
	keptOrphan := replicaSet("lone", "1", "v1")
	keptOrphan.OwnerReferences, keptOrphan.Annotations = nil, nil
	keptOrphan.Labels = map[string]string{history.PodTemplateHash: "lone"}

	for _, tc := range []struct {
		name     string
		in, want any
	}{
		{"deployment: no last-applied, strategy, conditions or owners; template managedFields only", whole, keptDeployment},
		{"replicaset: revision, hash, controller, replicas and template only", rs, keptRS},
		{"replicaset without an owner or a revision", orphan, keptOrphan},
		{"anything else passes", "a string", "a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := kube.Trim(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("trimmed (-want +got):\n%s", diff)
			}
			again, _ := kube.Trim(got)
			if diff := cmp.Diff(tc.want, again); diff != "" {
				t.Errorf("trimmed twice (-want +got):\n%s", diff)
			}
		})
	}
}
