package couch

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
)

// open passes a body the sweeper read through its Sealer; a body it
// refuses raises the alarm, as a store's does, and gives a *RefusedError.
func (s *Sweeper) open(ctx context.Context, id string, body json.RawMessage) (json.RawMessage, error) {
	if s.sealer == nil || body == nil {
		return body, nil
	}
	out, err := s.sealer.Open(id, body)
	if err != nil {
		s.refused.docRefused()
		s.logger.LogAttrs(ctx, slog.LevelError, "document refused: it failed verification or could not be opened; it may have been tampered with in the database",
			slog.String("db", s.db.name), slog.String("id", bounded(id, 128)), slog.String("by", "sweeper"), slog.String("error", bounded(err.Error(), 512)))
		return nil, &RefusedError{ID: id, Err: err}
	}
	return out, nil
}

// seal passes the merge the sweeper writes through its Sealer.
func (s *Sweeper) seal(id string, body json.RawMessage) (json.RawMessage, error) {
	if s.sealer == nil {
		return body, nil
	}
	out, err := s.sealer.Seal(id, body)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return out, nil
}
