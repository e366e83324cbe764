package history

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// Attribution: what a template change changed, and which field manager
// made it.

// attributeFirstSight returns c, the template a Deployment had when first
// seen, attributed by comparing it with the newest older revision whose
// template differs; c itself is left as it is.
func (d *deployment) attributeFirstSight(c *change, dict []byte) change {
	var prev *replicaSet
	for _, r := range d.older(c.Fingerprint) {
		if prev == nil || r.revision > prev.revision {
			prev = r
		}
	}
	a := *c
	a.tmpl = nil
	after := decodeTemplate(c.tmpl, dict)
	if prev == nil {
		a.attribute(nil, &after)
		return a
	}
	before := decodeTemplate(prev.tmpl, dict)
	a.beforeFP = prev.fp
	a.attribute(&before, &after)
	return a
}

// attribute works out what changed from before (nil: not known) to after
// and who changed it.
func (c *change) attribute(before, after *corev1.PodTemplateSpec) {
	c.attributed = true
	owners := parseOwners(c.managed)
	c.managed = nil
	if before == nil {
		// No earlier template known: the newest writer of the template
		// made it, but what it changed cannot be told.
		if o, ok := newestOwner(owners, [][]string{templatePath}); ok {
			c.Manager, c.At = o.manager, o.at
		}
		c.ImagesAfter = images(&after.Spec)
		return
	}
	c.ImagesBefore, c.ImagesAfter = images(&before.Spec), images(&after.Spec)
	fields, imagePaths, otherPaths := diff(before, after)
	c.Fields = fields
	c.ImageChanged = len(imagePaths) > 0
	paths := imagePaths
	if len(paths) == 0 {
		paths = otherPaths
	}
	if o, ok := newestOwner(owners, paths); ok {
		c.Manager = o.manager
		if !o.at.IsZero() {
			c.At = o.at
		}
	}
}

// diff names what changed between two templates, with the managedFields
// paths of changed images and of other changed fields. Init containers
// count like containers: a migration image is an image.
func diff(a, b *corev1.PodTemplateSpec) (fields []string, imagePaths, otherPaths [][]string) {
	for _, l := range []struct {
		name     string
		old, new []corev1.Container
	}{
		{"initContainers", a.Spec.InitContainers, b.Spec.InitContainers},
		{"containers", a.Spec.Containers, b.Spec.Containers},
	} {
		f, ip, op := diffContainers(l.name, l.old, l.new)
		fields, imagePaths, otherPaths = append(fields, f...), append(imagePaths, ip...), append(otherPaths, op...)
	}
	sa, sb := a.Spec, b.Spec
	sa.Containers, sb.Containers, sa.InitContainers, sb.InitContainers = nil, nil, nil, nil
	if !equality.Semantic.DeepEqual(sa, sb) {
		fields = append(fields, "template.spec")
	}
	if !equality.Semantic.DeepEqual(a.ObjectMeta, b.ObjectMeta) {
		fields = append(fields, "template.metadata")
	}
	if len(otherPaths) == 0 {
		otherPaths = [][]string{templatePath}
	}
	sort.Strings(fields)
	return fields, imagePaths, otherPaths
}

func diffContainers(list string, a, b []corev1.Container) (fields []string, imagePaths, otherPaths [][]string) {
	before := map[string]corev1.Container{}
	for _, c := range a {
		before[c.Name] = c
	}
	for _, c := range b {
		old, ok := before[c.Name]
		if !ok {
			fields = append(fields, fmt.Sprintf("%s[%s]", list, c.Name))
			otherPaths = append(otherPaths, containerPath(list, c.Name, ""))
			continue
		}
		delete(before, c.Name)
		if old.Image != c.Image {
			fields = append(fields, fmt.Sprintf("%s[%s].image", list, c.Name))
			imagePaths = append(imagePaths, containerPath(list, c.Name, "image"))
		}
		rest, restNew := old, c
		rest.Image, restNew.Image = "", ""
		if !equality.Semantic.DeepEqual(rest.Env, restNew.Env) {
			fields = append(fields, fmt.Sprintf("%s[%s].env", list, c.Name))
			otherPaths = append(otherPaths, containerPath(list, c.Name, "env"))
			rest.Env, restNew.Env = nil, nil
		}
		if !equality.Semantic.DeepEqual(rest, restNew) {
			fields = append(fields, fmt.Sprintf("%s[%s]", list, c.Name))
			otherPaths = append(otherPaths, containerPath(list, c.Name, ""))
		}
	}
	for name := range before {
		fields = append(fields, fmt.Sprintf("%s[%s]", list, name))
		otherPaths = append(otherPaths, []string{"f:spec", "f:template", "f:spec", "f:" + list})
	}
	return fields, imagePaths, otherPaths
}
