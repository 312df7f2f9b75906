package netio

import "errors"

var (
	// ErrClosed is returned by Post and Do after the server was closed.
	ErrClosed = errors.New("netio: server closed")
	// ErrMailboxFull is returned by Post when the shard's mailbox is full:
	// the shard is wedged or the control plane is flooding it.
	ErrMailboxFull = errors.New("netio: shard mailbox full")
	// ErrBadConfig wraps every configuration error.
	ErrBadConfig = errors.New("netio: bad config")
)
