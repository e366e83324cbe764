package daemon

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/sentinel-sre/sentinel/engine"
	"github.com/sentinel-sre/sentinel/incident"
)

// LogNotifier writes every action as one structured log line with stable
// keys; it is the record of what sentinel did even without a pager.
type LogNotifier struct{ Log *zap.Logger }

// Notify logs a.
func (l LogNotifier) Notify(_ context.Context, a incident.Action) error {
	fields := []zap.Field{
		zap.String("action", string(a.Kind)),
		zap.String("namespace", a.Workload.Namespace),
		zap.String("workload", a.Workload.Name),
		zap.String("incident", a.Incident),
		zap.Time("at", a.At),
		zap.String("summary", a.Summary()),
	}
	if a.Kind == incident.Page || a.Kind == incident.Resolve {
		fields = append(fields, zap.Float64("error_ratio", a.Ratio), zap.Float64("request_rate", a.Requests),
			zap.Time("onset", a.Onset))
	}
	if a.Kind == incident.Page {
		fields = append(fields, zap.Bool("rollback", a.Decision.Rollback), zap.String("reason", string(a.Decision.Reason)))
		if c := a.Cause; c != nil {
			fields = append(fields, zap.Int64("cause_revision", c.Revision), zap.String("cause_manager", c.Manager),
				zap.Bool("cause_image_changed", c.ImageChanged))
		}
	}
	if p := a.Plan; p != nil {
		fields = append(fields, zap.Int64("from_revision", p.FromRevision), zap.Int64("to_revision", p.ToRevision),
			zap.Bool("dry_run", p.DryRun))
	}
	l.Log.Info("action", fields...)
	return nil
}

// Tee reports each action to every notifier, and returns their errors
// joined.
type Tee []engine.Notifier

// Notify reports a to all.
func (t Tee) Notify(ctx context.Context, a incident.Action) error {
	var errs []error
	for _, n := range t {
		if err := n.Notify(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
