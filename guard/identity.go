package guard

import (
	"encoding/json"
	"slices"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sentinel-sre/sentinel/config"
)

// Identity mode: a trusted field manager's name is honoured only from the
// identities config.Guard binds it to, as the API server authenticated
// the request (request.userInfo), so `kubectl --field-manager=helm` from
// anyone but the CI's deployer is refused like any untrusted change. A
// trusted manager bound to no identity is honoured from no one.

// Bindings returns, per trusted manager bound to identities, the user
// names (users and ServiceAccounts) and the groups that may write as it:
// the two CEL map literals of identity mode, as JSON. A map leaves out
// the managers without entries of its kind, so every list in it has one.
func Bindings(cfg config.Config) (users, groups map[string][]string) {
	users, groups = map[string][]string{}, map[string][]string{}
	for _, m := range Trusted(cfg.Rollback) {
		ids, ok := cfg.Guard.Identities[m]
		if !ok {
			continue
		}
		if u := ids.Usernames(); len(u) > 0 {
			users[m] = u
		}
		if len(ids.Groups) > 0 {
			groups[m] = slices.Clone(ids.Groups)
		}
	}
	return users, groups
}

// Unbound lists the trusted managers bound to no identity: in identity
// mode no one may write as them.
func Unbound(cfg config.Config) []string {
	users, groups := Bindings(cfg)
	var out []string
	for _, m := range Trusted(cfg.Rollback) {
		if _, u := users[m]; !u {
			if _, g := groups[m]; !g {
				out = append(out, m)
			}
		}
	}
	return out
}

// Ignored lists the managers config.Guard binds that are not trusted,
// but for the defaults' (a team that trusts no GitOps controller keeps
// them): their bindings have no effect, and a misspelt name shows here.
func Ignored(cfg config.Config) []string {
	trusted, defaults := Trusted(cfg.Rollback), config.Default().Guard.Identities
	var out []string
	for m := range cfg.Guard.Identities {
		if _, isDefault := defaults[m]; !isDefault && !slices.Contains(trusted, m) {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out
}

// jsonMap renders a map as a CEL map literal: its JSON, keys sorted, as
// Helm's toJson writes it.
func jsonMap(m map[string][]string) string {
	b, _ := json.Marshal(m) // a map of string lists always marshals
	return string(b)
}

// identityVariables follow variables(): who may write as the request's
// field manager, and whether the requesting user is one of them.
func identityVariables(users, groups map[string][]string) []admissionv1.Variable {
	return []admissionv1.Variable{
		// The only expressions identity mode adds that depend on the
		// configuration.
		{Name: "boundUsers", Expression: jsonMap(users)},
		{Name: "boundGroups", Expression: jsonMap(groups)},
		{Name: "allowedUsers", Expression: "variables.manager in variables.boundUsers ? variables.boundUsers[variables.manager] : []"},
		{Name: "allowedGroups", Expression: "variables.manager in variables.boundGroups ? variables.boundGroups[variables.manager] : []"},
		{Name: "bound", Expression: "request.userInfo.username in variables.allowedUsers || " +
			"(has(request.userInfo.groups) && request.userInfo.groups.exists(g, g in variables.allowedGroups))"},
	}
}

// identityValidation refuses an image change, or the removal of the
// opt-in label, by a trusted manager's name from anyone not bound to it,
// unless it breaks glass. The other validations refuse untrusted names,
// so at most one of them fails.
func identityValidation() admissionv1.Validation {
	forbidden := metav1.StatusReasonForbidden
	return admissionv1.Validation{
		Expression: "!(variables.imageChanged || variables.unguarding) || !variables.trusted || variables.bound || variables.breakGlass",
		Message: "sentinel admission guard: change by a trusted field manager's name from an identity not bound to it (guard.identities): " +
			"deploy as that identity, or break glass; see " + DocsURL,
		MessageExpression: identityRefusal(),
		Reason:            &forbidden,
	}
}

// identityRefusal builds the message kubectl prints in identity mode: who
// was refused, as which manager they wrote and who may write as it, how
// to deploy instead, and how to break glass.
func identityRefusal() string {
	what := "(variables.imageChanged ? 'image change' : " + lit("removal of the "+Label+" label") + ")"
	who := "request.userInfo.username + (has(request.userInfo.groups) && size(request.userInfo.groups) > 0 ? " +
		"' (groups ' + request.userInfo.groups.join(', ') + ')' : '')"
	allowed := "(size(variables.allowedUsers) + size(variables.allowedGroups) == 0 ? " +
		"'no one may write as ' + variables.manager + ': guard.identities binds it to no identity' : " +
		"'only ' + (variables.allowedUsers + variables.allowedGroups.map(g, 'group ' + g)).join(', ') + " +
		"' may write as ' + variables.manager + ' (guard.identities)')"
	return lit("sentinel admission guard: ") + " + " + what + " + " + lit(" of Deployment ") +
		" + request.namespace + '/' + (has(request.name) ? request.name : '') + " +
		lit(" refused: user ") + " + " + who + " + " + lit(" wrote as field manager ") + " + variables.manager + " +
		lit(", a trusted deployer, but in identity mode ") + " + " + allowed + " + " +
		lit(". Deploy through that identity instead (the pipeline or controller that runs as it), or leave the rollback to sentinel. "+breakGlassHow) +
		" + request.userInfo.username + " + lit(" in the same request; sentinel reports it.") +
		" + (variables.imageChanged ? " + breakGlassExample() + " : '') + " + lit(" See "+DocsURL)
}
