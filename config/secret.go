package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Secret is a credential. It prints as <secret> so it cannot leak into
// logs, errors or output by accident.
type Secret string

func (Secret) String() string   { return "<secret>" }
func (Secret) GoString() string { return "<secret>" }

// MarshalText keeps secrets out of JSON and YAML renderings too.
func (Secret) MarshalText() ([]byte, error) { return []byte("<secret>"), nil }

// Reveal returns the credential itself, for the one place that sends it.
func (s Secret) Reveal() string { return string(s) }

// ReadSecret reads a credential from file when set, else from the
// environment variable env. The error names where it looked, never the
// value.
func ReadSecret(file, env string) (Secret, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read secret file: %w", err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("secret file %s is empty", file)
		}
		return Secret(v), nil
	}
	if env == "" {
		return "", errors.New("no secret file or environment variable configured")
	}
	v := strings.TrimSpace(os.Getenv(env))
	if v == "" {
		return "", fmt.Errorf("environment variable %s is not set", env)
	}
	return Secret(v), nil
}
