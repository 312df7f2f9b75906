// Package api is the vocabulary of vox's admin API: the JSON requests and
// answers (sessions, admissions, status, drains), the SRTP profile names
// and key material as they travel in JSON, the error sentinels with their
// machine codes and HTTP statuses, and the id rule.
//
// It is shared by the three sides of the API: voxd's admin plane (package
// admin, backed by package sessionmgr), the Go client (package client,
// used by voxctl and voxbench), and the coming fleet router. Keeping the
// vocabulary here lets a client speak to voxd without linking the server.
//
// The package imports only the standard library, never another vox
// package: media keeps its own media.Profile and media.Keys (with their
// SRTP behaviour), and the packages that use both convert at their edge
// (sessionmgr/wire.go, client/wire.go).
package api
