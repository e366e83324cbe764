package history

import (
	"encoding/json"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// owner is one managedFields entry, reduced to what attribution needs.
type owner struct {
	manager string
	at      time.Time
	fields  map[string]any // the entry's fieldsV1, decoded
}

// parseOwners keeps the entries that can own pod-template fields: status
// subresource writes never change the template.
func parseOwners(mfs []metav1.ManagedFieldsEntry) []owner {
	var out []owner
	for _, mf := range mfs {
		if mf.Subresource != "" || mf.FieldsV1 == nil {
			continue
		}
		var f map[string]any
		if err := json.Unmarshal(mf.FieldsV1.Raw, &f); err != nil {
			continue // an entry we cannot read cannot be the owner we name
		}
		o := owner{manager: mf.Manager, fields: f}
		if mf.Time != nil {
			o.at = mf.Time.Time.UTC()
		}
		out = append(out, o)
	}
	return out
}

// owns reports whether the entry owns path or anything below it.
func (o owner) owns(path []string) bool {
	cur := o.fields
	for _, k := range path {
		next, ok := cur[k].(map[string]any)
		if !ok {
			return false
		}
		cur = next
	}
	return true
}

var templatePath = []string{"f:spec", "f:template"}

// containerPath is the fieldsV1 path of a field of a named container.
// list is "containers" or "initContainers".
func containerPath(list, container, field string) []string {
	key, _ := json.Marshal(map[string]string{"name": container})
	p := []string{"f:spec", "f:template", "f:spec", "f:" + list, "k:" + string(key)}
	if field != "" {
		p = append(p, "f:"+field)
	}
	return p
}

// newestOwner returns the newest entry owning any of paths.
func newestOwner(owners []owner, paths [][]string) (owner, bool) {
	var best owner
	found := false
	for _, o := range owners {
		for _, p := range paths {
			if o.owns(p) {
				if !found || o.at.After(best.at) {
					best, found = o, true
				}
				break
			}
		}
	}
	return best, found
}
