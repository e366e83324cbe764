package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sentinel-sre/sentinel/incident"
)

// Log writes every action as one structured log line whose keys
// are those of incident.Details (as `sentinel simulate -o json` prints
// and PagerDuty receives them); it is the record of what sentinel did even
// without a pager.
type Log struct{ Log *zap.Logger }

// Notify logs a.
func (l Log) Notify(_ context.Context, a incident.Action) error {
	fields, err := detailFields(a.Details())
	if err != nil {
		return fmt.Errorf("log %s action: %w", a.Kind, err)
	}
	l.Log.Info("action", zap.Inline(fields))
	return nil
}

// detailFields are d's top-level JSON fields, in key order.
func detailFields(d incident.Details) (zapcore.ObjectMarshalerFunc, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return func(enc zapcore.ObjectEncoder) error {
		for _, k := range keys {
			if err := enc.AddReflected(k, m[k]); err != nil {
				return err
			}
		}
		return nil
	}, nil
}
