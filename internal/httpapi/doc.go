// Package httpapi holds what vox's two HTTP APIs share, voxd's admin plane
// (package admin) and the fleet router (package router): the JSON error
// answer (Error, WriteError's shape), strict JSON decoding of request bodies
// (DecodeJSON: one object, no unknown or duplicate field, names in their
// exact case, bounded durations), path ids (PathID), and the bearer token
// check (Bearer). Both servers answer with the same codes and statuses,
// from package api's table.
//
// It imports api and the standard library only (and chi for URL
// parameters), never a server package, so either server can use it.
package httpapi
