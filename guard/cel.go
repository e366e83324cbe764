package guard

import (
	"encoding/json"
	"strconv"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The policy's CEL. Each variable is one fact about the request; the
// validations only combine them, so the rule reads in one line:
// an image change (or removing the opt-in label) needs a trusted field
// manager or a break glass.
//
// A request without a field manager (kubectl rollout undo, curl, a
// client-go program that names none) is not trusted: nothing tells it
// apart from any other client. Sentinel's rollbacks and helm rollback
// name theirs; see docs/admission-guard.md for the evidence.

// lit quotes s as a CEL string literal (Go's escapes are CEL's).
func lit(s string) string { return strconv.Quote(s) }

// TrustedList is the trusted field managers as a CEL list literal: their
// JSON, which Helm's toJson writes the same way.
func TrustedList(trusted []string) string {
	b, _ := json.Marshal(trusted) // a []string always marshals
	return string(b)
}

// annotation reads an annotation of obj ("object" or "oldObject"),
// trimmed, or "" when absent.
func annotation(obj, key string) string {
	return obj + " != null && has(" + obj + ".metadata.annotations) && " + lit(key) + " in " + obj +
		".metadata.annotations ? " + obj + ".metadata.annotations[" + lit(key) + "].trim() : ''"
}

// guarded says whether obj carries the opt-in label.
func guarded(obj string) string {
	return obj + " != null && has(" + obj + ".metadata.labels) && " + lit(Label) + " in " + obj +
		".metadata.labels && " + obj + ".metadata.labels[" + lit(Label) + "] == " + lit(LabelValue)
}

// images lists obj's init and regular containers as "name=image".
func images(obj string) string {
	spec := obj + ".spec.template.spec"
	return obj + " == null ? [] : " +
		"(has(" + spec + ".initContainers) ? " + spec + ".initContainers.map(c, 'init:' + c.name + '=' + (has(c.image) ? c.image : '')) : []) + " +
		"(has(" + spec + ".containers) ? " + spec + ".containers.map(c, c.name + '=' + (has(c.image) ? c.image : '')) : [])"
}

func variables(trusted []string) []admissionv1.Variable {
	return []admissionv1.Variable{
		{Name: "manager", Expression: "has(request.options) && request.options != null && has(request.options.fieldManager) ? string(request.options.fieldManager) : ''"},
		// The only expression that depends on the configuration: a JSON
		// list of strings is a CEL list literal.
		{Name: "trustedManagers", Expression: TrustedList(trusted)},
		{Name: "trusted", Expression: "variables.manager in variables.trustedManagers"},
		{Name: "images", Expression: images("object")},
		{Name: "oldImages", Expression: images("oldObject")},
		// A create brings every image in: an untrusted create of a
		// protected Deployment is an out-of-band deploy too.
		{Name: "imageChanged", Expression: "request.operation == 'CREATE' || variables.images != variables.oldImages"},
		{Name: "unguarding", Expression: "(" + guarded("oldObject") + ") && !(" + guarded("object") + ")"},
		{Name: "reason", Expression: annotation("object", BreakGlassAnnotation)},
		{Name: "oldReason", Expression: annotation("oldObject", BreakGlassAnnotation)},
		{Name: "by", Expression: annotation("object", BreakGlassByAnnotation)},
		// Break glass: a new reason, on this very request, naming the
		// authenticated user. A reason left from an earlier emergency
		// opens nothing.
		{Name: "breakGlass", Expression: "variables.reason != '' && variables.reason != variables.oldReason && variables.by == request.userInfo.username"},
		// The first regular container whose image changes, for the
		// refusal's example command.
		{Name: "changed", Expression: "has(object.spec.template.spec.containers) ? object.spec.template.spec.containers.filter(c, has(c.image) && !((c.name + '=' + c.image) in variables.oldImages)) : []"},
	}
}

// breakGlassAudit records who broke glass and why in the audit log; an
// empty value adds no annotation.
const breakGlassAudit = "variables.breakGlass ? variables.by + ': ' + variables.reason : ''"

func validations() []admissionv1.Validation {
	forbidden := metav1.StatusReasonForbidden
	return []admissionv1.Validation{
		{
			Expression:        "!variables.imageChanged || variables.trusted || variables.breakGlass",
			Message:           "sentinel admission guard: image change by a field manager that is not a trusted deployer (rollback.trusted_managers): deploy with one, or break glass; see " + DocsURL,
			MessageExpression: refusal("image change", true),
			Reason:            &forbidden,
		},
		{
			Expression:        "!variables.unguarding || variables.trusted || variables.breakGlass",
			Message:           "sentinel admission guard: removal of the " + Label + " label by a field manager that is not a trusted deployer (rollback.trusted_managers): change it with one, or break glass; see " + DocsURL,
			MessageExpression: refusal("removal of the "+Label+" label", false),
			Reason:            &forbidden,
		},
	}
}

// breakGlassHow begins the refusal's break-glass advice; the requesting
// user's name follows it.
const breakGlassHow = "To break glass in an emergency, set the annotations " + BreakGlassAnnotation + "=<reason> (new) and " +
	BreakGlassByAnnotation + "="

// ofDeployment is the CEL of "… of Deployment NS/NAME" after what.
func ofDeployment(what string) string {
	return lit("sentinel admission guard: "+what+" of Deployment ") + " + request.namespace + '/' + (has(request.name) ? request.name : '') + "
}

// refusal builds the message kubectl prints: what was refused, how to
// deploy instead, and how to break glass — for an image change, the exact
// command that makes this request's change with the annotations.
func refusal(what string, example bool) string {
	who := "(variables.manager == '' ? 'a client that named no field manager (kubectl rollout undo, curl, client-go)' : 'field manager ' + variables.manager)"
	msg := ofDeployment(what) +
		lit(" by ") + " + " + who + " + " +
		lit(", not a trusted deployer. Deploy it with a trusted deployer instead (") + " + variables.trustedManagers.join(', ') + " +
		lit("), e.g. helm upgrade, or roll back with helm rollback. "+breakGlassHow) +
		" + request.userInfo.username + " + lit(" in the same request; sentinel reports it.")
	if example {
		msg += " + " + breakGlassExample()
	}
	return msg + " + " + lit(" See "+DocsURL)
}

// breakGlassExample is the CEL of the command that makes this request's
// image change with the break-glass annotations.
func breakGlassExample() string {
	patch := lit(`{"metadata":{"annotations":{"`+BreakGlassAnnotation+`":"<reason>","`+BreakGlassByAnnotation+`":"`) +
		" + request.userInfo.username + " +
		lit(`"}},"spec":{"template":{"spec":{"containers":[{"name":"`) +
		" + (size(variables.changed) > 0 ? variables.changed[0].name : '<container>') + " +
		lit(`","image":"`) +
		" + (size(variables.changed) > 0 ? variables.changed[0].image : '<image>') + " +
		lit(`"}]}}}}`)
	return lit(" For example: kubectl -n ") + " + request.namespace + " +
		lit(" patch deployment ") + " + (has(request.name) ? request.name : '') + " + lit(" -p '") + " + " + patch + " + " + lit("'.")
}
