package guard

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sentinel-sre/sentinel/history"
)

func TestBrokeGlass(t *testing.T) {
	deployment := func(annotations map[string]string) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "cart", Annotations: annotations}}
	}
	image := history.Change{ImageChanged: true}
	tests := []struct {
		name   string
		before string
		d      *appsv1.Deployment
		c      history.Change
		want   *BreakGlass
	}{
		{"a new reason with an image change", "",
			deployment(map[string]string{BreakGlassAnnotation: " INC-42 ", BreakGlassByAnnotation: " alice "}), image,
			&BreakGlass{Reason: "INC-42", By: "alice"}},
		{"a reason replacing an older one", "INC-41",
			deployment(map[string]string{BreakGlassAnnotation: "INC-42"}), image, &BreakGlass{Reason: "INC-42"}},
		{"the reason left from an earlier emergency", "INC-41 ",
			deployment(map[string]string{BreakGlassAnnotation: "INC-41"}), image, nil},
		{"no reason", "", deployment(map[string]string{BreakGlassAnnotation: "  ", BreakGlassByAnnotation: "alice"}), image, nil},
		{"a new reason without an image change", "",
			deployment(map[string]string{BreakGlassAnnotation: "INC-42"}), history.Change{Fields: []string{"containers[app].env"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *BreakGlass
			if bg, ok := BrokeGlass(tt.before, tt.d, tt.c); ok {
				got = &bg
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("BrokeGlass (-want +got):\n%s", diff)
			}
		})
	}
}
