//go:build !unix

package temporaltest

// lockFile is a no-op without flock: parallel test processes may then build
// the binary twice, which is slow but still correct thanks to the atomic rename.
func lockFile(string) (func(), error) { return func() {}, nil }
