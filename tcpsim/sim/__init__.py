"""The simulated world: a virtual clock, one modelled kernel on loopback, and the runner."""
