package config

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Guard configures the admission guard (docs/admission-guard.md) beyond
// the trusted managers it shares with rollback.
type Guard struct {
	// Identities binds field managers to who may write as them: in the
	// guard's identity mode a trusted manager's name is honoured only from
	// one of its identities, and from no one when it has none. A binding
	// of a manager that is not trusted is ignored.
	Identities map[string]Identities `yaml:"identities"`
}

// Identities are who may write as one field manager, as the API server
// authenticates the request (request.userInfo): any of the users, any
// member of the groups, any of the ServiceAccounts.
type Identities struct {
	Users  []string `yaml:"users"`
	Groups []string `yaml:"groups"`
	// ServiceAccounts are namespace/name, the user
	// system:serviceaccount:namespace:name.
	ServiceAccounts []string `yaml:"service_accounts"`
}

// ServiceAccountPrefix begins the user name of every ServiceAccount.
const ServiceAccountPrefix = "system:serviceaccount:"

// Usernames are the user names the identities allow: the users, and the
// ServiceAccounts' user names.
func (i Identities) Usernames() []string {
	out := slices.Clone(i.Users)
	for _, sa := range i.ServiceAccounts {
		out = append(out, ServiceAccountPrefix+strings.Replace(sa, "/", ":", 1))
	}
	return out
}

// defaultIdentities bind the GitOps controllers' field managers to their
// standard ServiceAccounts, and sentinel's to deploy/base's.
func defaultIdentities() map[string]Identities {
	argo := Identities{ServiceAccounts: []string{"argocd/argocd-application-controller"}}
	return map[string]Identities{
		"argocd-application-controller": argo,
		"argocd-controller":             argo,
		"kustomize-controller":          {ServiceAccounts: []string{"flux-system/kustomize-controller"}},
		"helm-controller":               {ServiceAccounts: []string{"flux-system/helm-controller"}},
		"sentinel":                      {ServiceAccounts: []string{"sentinel/sentinel"}},
	}
}

// validateGuard checks guard.*: every binding names at least one identity,
// each well formed.
func validateGuard(v *problems, g Guard) {
	managers := make([]string, 0, len(g.Identities))
	for m := range g.Identities {
		managers = append(managers, m)
	}
	slices.Sort(managers)
	for _, m := range managers {
		ids, path := g.Identities[m], "guard.identities."+m
		if strings.TrimSpace(m) == "" {
			v.bad("guard.identities", "a field manager's name must not be empty")
			path = "guard.identities[\"\"]"
		}
		if len(ids.Users)+len(ids.Groups)+len(ids.ServiceAccounts) == 0 {
			v.bad(path, "must name at least one user, group or service account; "+
				"to let no one write as %s, remove it from rollback.trusted_managers", m)
		}
		for i, u := range ids.Users {
			if err := checkUser(u); err != "" {
				v.bad(fmt.Sprintf("%s.users[%d]", path, i), "%s", err)
			}
		}
		for i, grp := range ids.Groups {
			if grp == "" || grp != strings.TrimSpace(grp) {
				v.bad(fmt.Sprintf("%s.groups[%d]", path, i), "must be a group name without surrounding spaces, got %q", grp)
			}
		}
		for i, sa := range ids.ServiceAccounts {
			if err := checkServiceAccount(sa); err != "" {
				v.bad(fmt.Sprintf("%s.service_accounts[%d]", path, i), "%s", err)
			}
		}
	}
}

// checkUser says what is wrong with a user name, "" when nothing.
func checkUser(u string) string {
	if u == "" || u != strings.TrimSpace(u) {
		return fmt.Sprintf("must be a user name without surrounding spaces, got %q", u)
	}
	if sa, ok := strings.CutPrefix(u, ServiceAccountPrefix); ok {
		ns, name, found := strings.Cut(sa, ":")
		if !found || checkServiceAccount(ns+"/"+name) != "" {
			return fmt.Sprintf("%q is no ServiceAccount's user name (%sNAMESPACE:NAME); list ServiceAccounts as namespace/name under service_accounts", u, ServiceAccountPrefix)
		}
	}
	return ""
}

// checkServiceAccount says what is wrong with a namespace/name, "" when
// nothing.
func checkServiceAccount(sa string) string {
	ns, name, ok := strings.Cut(sa, "/")
	if !ok || len(validation.IsDNS1123Label(ns)) > 0 || len(validation.IsDNS1123Subdomain(name)) > 0 {
		return fmt.Sprintf("must be namespace/name of a ServiceAccount, got %q", sa)
	}
	return ""
}
