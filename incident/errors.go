package incident

import "errors"

// ErrNoRoom is wrapped by a notifier's error when it had no room for an
// action now (a full queue) and will have later: the engine sends a page
// refused so again at its next poll, rather than leave the incident
// unpaged.
var ErrNoRoom = errors.New("no room now, try again later")
