package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/guard"
)

func TestGuardRender(t *testing.T) {
	root := filepath.Join("..", "..", "config.yaml")
	cfg, err := config.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	manifest := func(m guard.Mode) string {
		b, err := guard.Manifest(cfg, m)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		name    string
		args    []string
		want    string
		wantErr string
		// wantStderr is checked when the command succeeds.
		wantStderr string
	}{
		{name: "default mode", args: []string{"--config", root}, want: manifest(guard.Warn)},
		{name: "deny", args: []string{"--config", root, "--mode", "deny"}, want: manifest(guard.Deny)},
		{name: "audit", args: []string{"--config", root, "--mode", "audit"}, want: manifest(guard.Audit)},
		{name: "identity", args: []string{"--config", root, "--mode", "identity"}, want: manifest(guard.Identity),
			wantStderr: "sentinel: warning: field manager helm is trusted (rollback.trusted_managers) but bound to no identity " +
				"(guard.identities): in identity mode no one may write as it\n"},
		{name: "unknown mode", args: []string{"--config", root, "--mode", "block"},
			wantErr: `--mode: mode "block": want warn, audit, deny or identity`},
		{name: "missing config", args: []string{"--config", "nope.yaml"}, wantErr: "configuration is invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			cmd := newRoot(&out, &errOut)
			cmd.SetArgs(append([]string{"guard", "render"}, tt.args...))
			err := cmd.ExecuteContext(t.Context())
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tt.wantErr {
				t.Fatalf("error = %q, want %q", gotErr, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, out.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantStderr, errOut.String()); err == nil && diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}
