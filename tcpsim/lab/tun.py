"""A TUN device in the lab's private namespace: packetdrill's wire, on the real kernel.

packetdrill plays the remote end of a connection by writing IP packets into a tun device and
reading what the kernel sends back (netdev.c: local_netdev_new(), its tun0 with the local
address, MTU 1500, and a route to the remote host through it).  TunWire does the same inside
a namespace the lab made (netns.private_netns), so nothing on the host changes: the kernel's
TCP answers real SYNs, ACKs and data from an address that exists only as a route into tun0.

Packets are raw IPv4/IPv6 (IFF_NO_PI: no packet-information header), made and read with
trace/segment.py's encode_frame/decode_ip.  This is the first piece of issue 19 (`pkt run
--kernel`); today it serves the live check of the packetdrill environment's numbers.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import select
import socket
import struct
import subprocess
import time

from ..errors import TcpsimError
from ..trace.segment import Segment, decode_ip, encode_frame, internet_checksum
from .netns import link_up, set_link_mtu

TUNSETIFF, TUNSETOFFLOAD = 0x400454CA, 0x400454D0  # _IOW('T', 202, int), _IOW('T', 208, ...)
IFF_TUN, IFF_NO_PI, IFF_VNET_HDR = 0x0001, 0x1000, 0x4000
TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN = 0x01, 0x02, 0x04, 0x08
VNET_HDR = 10  # struct virtio_net_hdr before each packet, read and written
VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV6 = 1, 4
ETH_P_ALL, PACKET_OUTGOING, SO_TIMESTAMPNS = 0x0003, 4, 35  # linux/if_ether.h, if_packet.h
SIOCSIFADDR, SIOCSIFNETMASK = 0x8916, 0x891C

# packetdrill's defaults (config.c set_default_config): the kernel under test is local_ip on a
# /16 whose .1 is the gateway; the remote end it plays is remote_ip, TEST-NET-1.
LOCAL_IP, GATEWAY_IP, NETMASK = "192.168.0.2", "192.168.0.1", "255.255.0.0"
REMOTE_IP = "192.0.2.1"
MTU = 1500


def _sockaddr_in(ip: str) -> bytes:
    return struct.pack("HH4s8x", socket.AF_INET, 0, ipaddress.IPv4Address(ip).packed)


class TunWire:
    """tun0, up, with the local address, packetdrill's MTU and a route to the remote host.

    Make it inside the lab's namespace; close() (or the namespace's end) removes it."""

    def __init__(self, name: str = "tun0", local_ip: str = LOCAL_IP, remote_ip: str = REMOTE_IP,
                 mtu: int = MTU):
        try:
            self.fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
        except OSError as e:
            raise TcpsimError(f"cannot open /dev/net/tun ({e.strerror}): the kernel's TUN "
                              "driver is needed (modprobe tun, as root)") from None
        try:
            # as packetdrill's netdev.c: a virtio-net header before each packet and the
            # offloads of a typical Ethernet device, so that the kernel hands tun0 its GSO
            # super-packets whole (a 10000-byte write leaves as one packet, as scripts expect)
            fcntl.ioctl(self.fd, TUNSETIFF, struct.pack("16sH22x", name.encode(),
                                                        IFF_TUN | IFF_NO_PI | IFF_VNET_HDR))
            fcntl.ioctl(self.fd, TUNSETOFFLOAD,
                        TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)
            v6 = ":" in local_ip
            if not v6:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    fcntl.ioctl(s, SIOCSIFADDR,
                                name.encode().ljust(16, b"\0") + _sockaddr_in(local_ip))
                    fcntl.ioctl(s, SIOCSIFNETMASK,
                                name.encode().ljust(16, b"\0") + _sockaddr_in(NETMASK))
            set_link_mtu(mtu, name)
            link_up(name)
            commands = []
            if v6:  # net_add_ipv6_address(): the /48 of config.c; tun0 has no duplicate
                # address detection to wait for (IFF_NOARP), nodad says so outright
                commands.append(["ip", "-6", "addr", "add", f"{local_ip}/48", "dev", name,
                                 "nodad"])
            # the remote host is reached through tun0, as packetdrill routes it
            commands.append(["ip", "-6" if v6 else "-4", "route", "add",
                             f"{remote_ip}/{128 if v6 else 32}", "dev", name])
            for cmd in commands:
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode != 0:
                    raise TcpsimError(f"could not set up {name} for {local_ip} and {remote_ip} "
                                      f"({r.stderr.strip()}); iproute2's ip is needed")
            # what the kernel sends is read, with the time it left, from a packet socket on
            # tun0 (as packetdrill's packet_socket_linux.c sniffs it): the moment the kernel
            # handed it to the device (dev_queue_xmit_nit(), SO_TIMESTAMPNS), not the moment
            # this process got round to reading it, which a busy machine delays by
            # milliseconds; tun0's own queue is only drained
            self.sniff = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM,
                                       socket.htons(ETH_P_ALL))
            try:
                self.sniff.bind((name, ETH_P_ALL))
                self.sniff.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                self.sniff.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 24)
                self.sniff.setblocking(False)
            except BaseException:
                self.sniff.close()
                raise
        except BaseException:
            os.close(self.fd)
            raise
        os.set_blocking(self.fd, False)
        self.name, self.local_ip, self.remote_ip = name, local_ip, remote_ip
        # CLOCK_REALTIME (the timestamps) less CLOCK_MONOTONIC (the run's clock), taken once:
        # a run lasts seconds, over which the two do not drift apart measurably
        self.realtime_offset = time.time() - time.monotonic()

    def close(self) -> None:
        self.sniff.close()
        os.close(self.fd)

    def send(self, src: tuple, dst: tuple, flags: int, seq: int, ack: int, win: int,
             options: list, payload: bytes = b"", tos: int = 0, gso_size: int = 0,
             urg: int = 0) -> None:
        """Write one TCP segment into the kernel as if it came from the wire; tos: the IP
        header's TOS byte (ECN's bits: a packetdrill script's [ect0], [ce]); gso_size: as a
        GSO packet of that segment size (packetdrill's --mss); urg: the urgent pointer."""
        frame = encode_frame(src, dst, flags, seq, ack, win, options, payload, tos=tos, urg=urg)
        # the virtio-net header (include/uapi/linux/virtio_net.h: flags, gso_type, hdr_len,
        # gso_size, csum_start, csum_offset): checksums complete, GSO only when asked
        # (netdev.c linux_tun_write()), then the IP packet without encode_frame's Ethernet
        # header
        v6 = ":" in src[0]
        hdr = struct.pack("=BBHHHH", 0, (VIRTIO_NET_HDR_GSO_TCPV6 if v6 else
                                         VIRTIO_NET_HDR_GSO_TCPV4) if gso_size else 0,
                          0, gso_size, 0, 0)
        os.write(self.fd, hdr + frame[14:])

    def send_icmp(self, src: str, dst: str, kind: int, code: int, mtu: int | None,
                  echoed: tuple) -> None:
        """Write one ICMPv4 message into the kernel as packetdrill builds it (icmp_packet.c
        new_icmp_packet(), socket.h set_icmp_echoed_tuple()): an IPv4 header (TTL 255, no
        DF), the ICMP header (the MTU of a frag_needed in its last two bytes), and the echoed
        packet's IPv4 header and first 8 bytes of TCP (ports and seq).  echoed: (its source,
        its destination, seq, payload length), addresses as (ip, port)."""
        esrc, edst, seq, length = echoed
        inner = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + length, 0, 0, 255, 6, 0,
                            ipaddress.IPv4Address(esrc[0]).packed,
                            ipaddress.IPv4Address(edst[0]).packed)
        inner += struct.pack("!HHI", esrc[1], edst[1], seq & 0xFFFFFFFF)
        icmp = struct.pack("!BBHHH", kind, code, 0, 0, mtu or 0) + inner
        icmp = icmp[:2] + struct.pack("!H", internet_checksum(icmp)) + icmp[4:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 0, 0, 255, 1, 0,
                         ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
        ip = ip[:10] + struct.pack("!H", internet_checksum(ip)) + ip[12:]
        os.write(self.fd, bytes(VNET_HDR) + ip + icmp)

    def receive(self, timeout: float) -> Segment | None:
        """The next TCP segment the kernel sends into tun0 within `timeout` seconds; its t is
        when it left, on time.monotonic()'s clock.  (Its TCP checksum may be left to
        "hardware", CSUM: it is not checked.)"""
        end = time.monotonic() + timeout
        while True:
            self._drain()
            try:
                packet, anc, _, addr = self.sniff.recvmsg(1 << 17, 64)
            except BlockingIOError:
                left = end - time.monotonic()
                if left <= 0:
                    return None
                select.select([self.sniff], [], [], left)
                continue
            if addr[2] != PACKET_OUTGOING:
                continue  # what was written into tun0 from here
            t = time.time()
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", data[:16])
                    t = sec + nsec / 1e9
            seg = decode_ip(packet, t - self.realtime_offset, packet)
            if seg is not None:
                return seg  # other packets (IPv6 router solicitations, say) are not TCP's

    def _drain(self) -> None:
        """Empty tun0's own queue: the packet socket has seen what it holds."""
        while True:
            try:
                os.read(self.fd, 1 << 17)
            except BlockingIOError:
                return
