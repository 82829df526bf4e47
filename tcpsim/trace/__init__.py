"""The Trace type shared by every source (lab, model, pcap, packetdrill) and its views."""

from .segment import Segment, decode_frame, decode_ip, format_options
from .trace import Call, RelSegment, SocketInfo, State, Trace

__all__ = ["Call", "RelSegment", "Segment", "SocketInfo", "State", "Trace", "decode_frame",
           "decode_ip", "format_options"]
