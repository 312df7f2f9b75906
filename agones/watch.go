package agones

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// errStreamEnded is a watch stream the sidecar closed cleanly.
var errStreamEnded = errors.New("the stream ended")

// WatchGameServer follows the GameServer: it calls fn with the current
// state, then once per change, until ctx is done, and returns ctx's error
// (its cause) then. fn runs on the calling goroutine (run WatchGameServer
// on a goroutine of its own); a slow fn delays the next change, never
// loses it.
//
// When the stream breaks (the sidecar restarts, the connection drops, an
// error line), WatchGameServer reconnects after the client's backoff,
// growing while attempts fail and starting over once a stream has
// delivered; each new stream starts with the current state, so fn sees
// the latest GameServer again. The first failure after a working stream
// is logged as a warning, later ones at debug level.
func (c *Client) WatchGameServer(ctx context.Context, fn func(GameServer)) error {
	if fn == nil {
		return errors.New("agones: watch: nil callback")
	}
	fails := 0
	for {
		delivered, err := c.watchOnce(ctx, fn)
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if delivered {
			fails = 0
		}
		fails++
		level := c.cfg.Logger.Debug
		if fails == 1 {
			level = c.cfg.Logger.Warn
		}
		level("agones: watch stream broken, reconnecting", "err", err, "attempt", fails)
		if sleep(ctx, c.backoff(fails)) != nil {
			return context.Cause(ctx)
		}
	}
}

// watchLine is one line of the watch stream: a result or, as a gRPC
// gateway ends a stream on error, an error.
type watchLine struct {
	Result *GameServer `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// watchOnce reads one watch stream to its end, reporting whether it
// delivered any GameServer.
func (c *Client) watchOnce(ctx context.Context, fn func(GameServer)) (delivered bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/watch/gameserver", nil)
	if err != nil {
		return false, fmt.Errorf("agones: watch: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.watch.Do(req)
	if err != nil {
		if ctx.Err() == nil && dialFailed(err) {
			return false, fmt.Errorf("agones: watch: %w: %w", ErrUnavailable, err)
		}
		return false, fmt.Errorf("agones: watch: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("agones: watch: %w", readError(resp))
	}
	dec := json.NewDecoder(resp.Body)
	for {
		var line watchLine
		if err := dec.Decode(&line); err != nil {
			if errors.Is(err, io.EOF) {
				err = errStreamEnded
			}
			return delivered, fmt.Errorf("agones: watch: %w", err)
		}
		switch {
		case line.Error != nil:
			return delivered, fmt.Errorf("agones: watch: %w",
				&Error{HTTPStatus: resp.StatusCode, Code: line.Error.Code, Message: line.Error.Message})
		case line.Result != nil:
			fn(*line.Result)
			delivered = true
		}
	}
}
