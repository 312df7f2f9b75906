// Package agones is vox's client of the Agones SDK sidecar, spoken over the
// sidecar's REST API (the Go module agones.dev/agones is not a dependency).
//
// The wire format follows the sidecar of Agones v1.56 as recorded in the
// design note agones-rest.md: every request carries a JSON body ("{}" when
// there is nothing to say: an empty /health body is a 400), 64-bit integers
// are sent as JSON strings ({"seconds":"5"}, {"countDiff":"-1"}), answers
// use snake_case fields with 64-bit integers as strings ("count":"1"; plain
// numbers are accepted too) and 32-bit ones (ports) as numbers.
//
// # Calls
//
// Every unary call goes through one helper: each attempt has its own
// timeout (Config.AttemptTimeout, 2 s), and a failed attempt is retried
// after an exponential backoff with full jitter (100 ms base, 2 s cap, 3
// attempts) when the failure may be transient: a transport error, a 429 or
// 503, or a 5xx whose message is not one of the sidecar's well-known
// refusals (ErrNotFound, ErrOutOfRange, ErrAlreadyExists). A 4xx and a
// matched refusal are final. A counter update by difference (CountDiff) is
// not idempotent, so it is retried only when the sidecar surely did not
// apply it: it could not be reached, or it answered an error.
//
// Errors: the sidecar's answers outside 2xx are *Error, which errors.Is
// matches against ErrNotFound, ErrOutOfRange and ErrAlreadyExists by message
// prefix; a sidecar that cannot be reached (connection refused) is
// ErrUnavailable, the signal to run standalone.
//
// # Watching
//
// WatchGameServer reads the sidecar's stream of GameServer changes (the
// current state first, then one per change) and calls back on its own
// goroutine; it reconnects with backoff when the stream breaks, and each
// new stream starts again with the current state, so the callback always
// converges on the latest GameServer.
//
// # Labels
//
// The sidecar stores a label or annotation key k as agones.dev/sdk-k, and a
// cluster refuses names Kubernetes would refuse. SanitizeLabelKey and
// SanitizeLabelValue turn arbitrary strings into acceptable ones
// deterministically; SetLabel applies them and refuses (ErrInvalidLabel)
// before sending what cannot be fixed.
//
// # Detection
//
// Mode (auto, on, off) and Detect decide from the environment whether vox
// runs under Agones: in auto mode only when AGONES_SDK_HTTP_PORT is set.
// WaitReachable waits for the sidecar at start.
//
// Package agonestest provides a sidecar test double following the same
// contract.
package agones
