package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"

	authv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Permission is one verb on one resource that sentinel needs.
type Permission struct {
	Verb, Group, Resource string
	// Namespace is empty for cluster-wide.
	Namespace string
}

func (p Permission) String() string {
	r := p.Resource
	if p.Group != "" {
		r += "." + p.Group
	}
	where := "in all namespaces"
	if p.Namespace != "" {
		where = "in namespace " + p.Namespace
	}
	return fmt.Sprintf("%s %s %s", p.Verb, r, where)
}

// Needed lists what sentinel needs in the watched namespaces (all when
// none is given). Dry-run needs patch too: the server validates the patch.
func Needed(namespaces []string) []Permission {
	if len(namespaces) == 0 {
		namespaces = []string{""}
	}
	var out []Permission
	for _, ns := range namespaces {
		for _, p := range []Permission{
			{Verb: "get", Group: "apps", Resource: "deployments"},
			{Verb: "list", Group: "apps", Resource: "deployments"},
			{Verb: "watch", Group: "apps", Resource: "deployments"},
			{Verb: "patch", Group: "apps", Resource: "deployments"},
			{Verb: "get", Group: "apps", Resource: "replicasets"},
			{Verb: "list", Group: "apps", Resource: "replicasets"},
			{Verb: "watch", Group: "apps", Resource: "replicasets"},
			{Verb: "create", Resource: "events"},
		} {
			p.Namespace = ns
			out = append(out, p)
		}
	}
	return out
}

// CheckAccess asks the API server, with SelfSubjectAccessReviews, whether
// sentinel's identity has every permission, and names each one missing.
func CheckAccess(ctx context.Context, client kubernetes.Interface, perms []Permission) error {
	var missing []string
	for _, p := range perms {
		r, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authv1.SelfSubjectAccessReview{
			Spec: authv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authv1.ResourceAttributes{
				Namespace: p.Namespace, Verb: p.Verb, Group: p.Group, Resource: p.Resource}},
		}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("check permission to %s: %w", p, err)
		}
		if !r.Status.Allowed {
			missing = append(missing, p.String())
		}
	}
	if len(missing) > 0 {
		return errors.New("missing RBAC permissions: " + strings.Join(missing, "; "))
	}
	return nil
}

// LeasePermissions are what leader election needs in the Lease's namespace.
func LeasePermissions(namespace string) []Permission {
	var out []Permission
	for _, v := range []string{"get", "create", "update"} {
		out = append(out, Permission{Verb: v, Group: "coordination.k8s.io", Resource: "leases", Namespace: namespace})
	}
	return out
}
