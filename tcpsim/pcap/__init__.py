"""Reading and writing pcap files (scapy writes; a small reader serves round trips)."""

from .io import read_pcap_frames, write_pcap

__all__ = ["read_pcap_frames", "write_pcap"]
