package simulate_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/notify"
	"github.com/sentinel-sre/sentinel/replay/expect"
	"github.com/sentinel-sre/sentinel/replay/simulate"
)

// replay runs a scenario directory with its configuration (its
// config.yaml, else the defaults), as `sentinel simulate DIR` does, and
// returns every action.
func replay(t testing.TB, dir string) ([]incident.Action, simulate.Result) {
	t.Helper()
	cfg, err := simulate.LoadConfig(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	var c notify.Collect
	res, err := simulate.Run(t.Context(), dir, cfg, &c)
	if err != nil {
		t.Fatalf("replay %s: %v", dir, err)
	}
	return c.Actions, res
}

// checkScenarios replays every directory under root holding an
// expected.json and checks the actions against it.
func checkScenarios(t *testing.T, root string) {
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ent := range entries {
		dir := filepath.Join(root, ent.Name())
		if !ent.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, expect.File)); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		n++
		t.Run(ent.Name(), func(t *testing.T) {
			t.Parallel()
			e, err := expect.ReadFile(filepath.Join(dir, expect.File))
			if err != nil {
				t.Fatal(err)
			}
			actions, _ := replay(t, dir)
			for _, v := range e.Violations(actions) {
				t.Error(v)
			}
			if t.Failed() {
				for _, a := range actions {
					t.Logf("action: %s %s %s", a.At.UTC().Format(time.RFC3339), a.Kind, a.Summary())
				}
			}
		})
	}
	if n == 0 {
		t.Fatalf("no scenario with an %s under %s", expect.File, root)
	}
}

// TestSharedScenarios replays the shared scenario corpus, which CI lays
// beside the repository.
func TestSharedScenarios(t *testing.T) {
	root := filepath.Join("..", "..", "..", "shared", "scenarios")
	if _, err := os.Stat(root); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s not found: the shared scenarios are laid beside the repository in CI; the bundled copies in examples/ still run", root)
	}
	checkScenarios(t, root)
}

// TestExampleScenarios replays the scenarios bundled with sentinel, so the
// check runs without the shared corpus.
func TestExampleScenarios(t *testing.T) {
	checkScenarios(t, filepath.Join("..", "..", "examples"))
}
