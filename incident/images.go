package incident

import (
	"fmt"
	"strings"

	"github.com/sentinel-sre/sentinel/history"
)

// maxListed bounds the containers a summary or a rendering names: a
// change of fifty containers must not make a page of fifty image names.
const maxListed = 3

// ImageChange is one container whose image differs between two
// revisions. From is empty for an added container, To for a removed one.
type ImageChange struct {
	Container string `json:"container"`
	From      string `json:"from,omitempty"`
	To        string `json:"to,omitempty"`
}

// ImageChanges lists, in the order of after (then of removed containers
// in before), the containers whose image differs between before and
// after.
func ImageChanges(before, after []history.Image) []ImageChange {
	was := make(map[string]string, len(before))
	for _, i := range before {
		was[i.Container] = i.Image
	}
	var out []ImageChange
	seen := make(map[string]bool, len(after))
	for _, i := range after {
		seen[i.Container] = true
		if from, ok := was[i.Container]; !ok || from != i.Image {
			out = append(out, ImageChange{Container: i.Container, From: from, To: i.Image})
		}
	}
	for _, i := range before {
		if !seen[i.Container] {
			out = append(out, ImageChange{Container: i.Container, From: i.Image})
		}
	}
	return out
}

// single reports whether before and after are one and the same container:
// then naming the container adds nothing.
func single(before, after []history.Image) bool {
	return len(before) <= 1 && len(after) == 1 && (len(before) == 0 || before[0].Container == after[0].Container)
}

// describeImages says how the images go from before to after, for a
// summary: " to app:v2" for a one-container Deployment, else
// " of container fluentbit from fluentbit:3.0 to fluentbit:3.1" naming
// only the containers that changed, at most maxListed of them.
func describeImages(before, after []history.Image) string {
	if single(before, after) {
		return " to " + ShortImage(after[0].Image)
	}
	changes := ImageChanges(before, after)
	if len(changes) == 0 {
		return ""
	}
	noun := "container"
	if len(changes) > 1 {
		noun = "containers"
	}
	parts := make([]string, 0, maxListed)
	for _, c := range changes[:min(len(changes), maxListed)] {
		switch {
		case c.From == "":
			parts = append(parts, fmt.Sprintf("%s added as %s", c.Container, ShortImage(c.To)))
		case c.To == "":
			parts = append(parts, fmt.Sprintf("%s removed (was %s)", c.Container, ShortImage(c.From)))
		default:
			parts = append(parts, fmt.Sprintf("%s from %s to %s", c.Container, ShortImage(c.From), ShortImage(c.To)))
		}
	}
	return " of " + noun + " " + strings.Join(parts, ", ") + more(len(changes))
}

// ShortImages renders images compactly (ShortImage), at most maxListed of
// them.
func ShortImages(imgs []history.Image) string {
	parts := make([]string, 0, maxListed)
	for _, i := range imgs[:min(len(imgs), maxListed)] {
		parts = append(parts, ShortImage(i.Image))
	}
	return strings.Join(parts, ", ") + more(len(imgs))
}

// ShortImage renders one image compactly: the last path element, with a
// long tag or digest cut to its first eight characters, the way people
// quote commit hashes ("04729cef…").
func ShortImage(img string) string {
	name := img[strings.LastIndex(img, "/")+1:]
	sep := strings.LastIndexAny(name, ":@")
	if sep < 0 {
		return name
	}
	if tag := name[sep+1:]; len(tag) > 12 {
		return name[:sep+1] + tag[:8] + "…"
	}
	return name
}
