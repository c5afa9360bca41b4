//go:build !unix

package main

// lockDatabase is a no-op without flock; the supervisor never starts two
// servers on one database, but nothing stops a person from doing so here.
func lockDatabase(string) (func(), error) { return func() {}, nil }
