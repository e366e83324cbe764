package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/guard"
)

func newGuard() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "guard",
		Short: "The opt-in admission guard against out-of-band image changes",
		Args:  cobra.NoArgs,
	}
	var (
		cfgPath string
		mode    string
	)
	render := &cobra.Command{
		Use:   "render --config FILE [--mode warn|audit|deny|identity]",
		Short: "Print the guard's ValidatingAdmissionPolicy and binding as YAML",
		Long: `Prints the admission guard (docs/admission-guard.md) rendered from the
configuration: it protects the Deployments sentinel watches that carry the
label sentinel.dev/guard=enabled, and trusts rollback.trusted_managers and
sentinel itself. In identity mode it denies, and honours a trusted manager
only from the identities guard.identities binds it to; it warns on stderr
of trusted managers bound to none, which no one may then use.`,
		Example: "  sentinel guard render --config config.yaml --mode deny | kubectl apply -f -",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := guard.ParseMode(mode)
			if err != nil {
				return fmt.Errorf("--mode: %w", err)
			}
			cfg, err := config.Load(cfgPath)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return fmt.Errorf("configuration is invalid")
			}
			out, err := guard.Manifest(cfg, m)
			if err != nil {
				return err
			}
			if m == guard.Identity {
				warnIdentities(cmd.ErrOrStderr(), cfg)
			}
			if _, err := cmd.OutOrStdout().Write(out); err != nil {
				return fmt.Errorf("write the guard: %w", err)
			}
			return nil
		},
	}
	render.Flags().StringVar(&cfgPath, "config", "/etc/sentinel/config.yaml", "configuration file")
	render.Flags().StringVar(&mode, "mode", string(guard.DefaultMode),
		"warn, audit or deny (the binding's validationActions), or identity (deny, trusted managers only from their identities)")
	cmd.AddCommand(render)
	return cmd
}

// warnIdentities tells what identity mode will make of the configuration's
// bindings that may surprise: trusted managers no one may use, bindings
// that do nothing.
func warnIdentities(w io.Writer, cfg config.Config) {
	for _, m := range guard.Unbound(cfg) {
		fmt.Fprintf(w, "sentinel: warning: field manager %s is trusted (rollback.trusted_managers) but bound to no identity "+
			"(guard.identities): in identity mode no one may write as it\n", m)
	}
	for _, m := range guard.Ignored(cfg) {
		fmt.Fprintf(w, "sentinel: warning: guard.identities.%s: not a trusted manager (rollback.trusted_managers): ignored\n", m)
	}
}
