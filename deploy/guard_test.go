package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/guard"
)

// deploy/guard/guard.yaml is the rendering of the repository's
// configuration in the default mode, byte for byte, and kustomize builds
// it. Regenerate with:
//
//	go run ./cmd/sentinel guard render --config config.yaml > deploy/guard/guard.yaml
func TestGuardIsTheRendering(t *testing.T) {
	cfg, err := config.Load(filepath.Join("..", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := guard.Manifest(cfg, guard.DefaultMode)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("guard", "guard.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("deploy/guard/guard.yaml is not `sentinel guard render --config config.yaml` (-want +got):\n%s", diff)
	}
	if out, err := exec.Command("kubectl", "kustomize", "guard").CombinedOutput(); err != nil {
		t.Errorf("kubectl kustomize deploy/guard: %v\n%s", err, out)
	}
}
