"""Reading and writing pcap files (scapy writes; a small reader serves round trips)."""

__all__ = ["read_pcap_frames", "write_pcap"]


def __getattr__(name: str):
    # (io imports tcpsim.trace: loaded only when asked, so that `tcpsim compare`, which
    # reads with pcap.reader alone, does not load it at every start)
    if name in __all__:
        from . import io

        return getattr(io, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
