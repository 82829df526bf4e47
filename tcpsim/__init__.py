"""tcpsim: a packet-level simulator of the Linux TCP stack, checked against the real kernel."""

__version__ = "0.1.0"
