package pagerduty

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/incident"
)

// Writer prints, per action, the PagerDuty Events API v2 event (alert or
// change event) the daemon would send, one JSON object per line, routing
// key hidden.
type Writer struct {
	W      io.Writer
	Paging config.Paging
}

// Notify prints a's event, if it has one.
func (p Writer) Notify(_ context.Context, a incident.Action) error {
	ev, ok, err := PreviewBody(p.Paging, a)
	if err != nil {
		return fmt.Errorf("render pagerduty event: %w", err)
	}
	if !ok {
		return nil
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode pagerduty event: %w", err)
	}
	_, err = fmt.Fprintf(p.W, "%s\n", b)
	return err
}
