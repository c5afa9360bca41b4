package config

// Option adjusts Load and Validate.
type Option func(*options)

type options struct {
	requireInjunction bool
}

// RequireInjunction(true) makes the injunction fields every notice cites
// (court, file_number, date_of_orders, claimant, terms, contact.email)
// mandatory. Commands that draft or send notices (up, worker) pass true;
// commands that only manage references or run scans leave it off, so a
// half-written config does not block them. Without it, fields that are set are
// still checked for form (date, address, readable PDF).
func RequireInjunction(required bool) Option {
	return func(o *options) { o.requireInjunction = required }
}

func newOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}
