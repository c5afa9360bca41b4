// Package testkit is the home of leakwatch's fixtures: a simulated leak
// forum (leaksim), a site hostile in every way a leak site can be
// (hostile), a recording SMTP server (smtpsink), a local RFC 3161
// timestamp authority (tsa) and a synthetic breach generator (synth,
// test-range Z… NHIs only). Tests, the demo and the
// measurement commands use them; the product never links them, which
// TestProductLinksNoFixture enforces.
package testkit
