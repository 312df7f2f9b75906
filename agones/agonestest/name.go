package agonestest

// WithName names the GameServer (DefaultName otherwise): a simulated
// Fleet holds many.
func WithName(name string) Option {
	return func(s *Sidecar) { s.gs.ObjectMeta.Name = name }
}
