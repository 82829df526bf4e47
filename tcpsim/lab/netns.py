"""A private network namespace for one lab run.

unshare(CLONE_NEWNET) moves the calling thread into a new, empty namespace: no name in
/run/netns, no bind mount, nothing on the host touched.  The kernel frees it as soon as no
thread is inside it and no socket refers to it, so it disappears when the run ends, and also
when the process is killed, however it dies.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import struct
import subprocess
from contextlib import contextmanager

from ..errors import PrivilegeError, TcpsimError

CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS, SIOCGIFMTU, SIOCSIFMTU = 0x8913, 0x8914, 0x8921, 0x8922
from ..model.profile import LO_MTU_RANGE as MTU_RANGE
IFF_UP = 0x1

_libc = ctypes.CDLL(None, use_errno=True)


def _ifreq(name: str, fmt: str, value: int = 0) -> bytes:
    return struct.pack("16s" + fmt + "x" * (24 - struct.calcsize(fmt)), name.encode(), value)


def link_up(name: str = "lo") -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = struct.unpack_from("H", fcntl.ioctl(s, SIOCGIFFLAGS, _ifreq(name, "H")), 16)[0]
        fcntl.ioctl(s, SIOCSIFFLAGS, _ifreq(name, "H", flags | IFF_UP))


def set_link_mtu(mtu: int, name: str = "lo") -> None:
    """Set an interface's MTU (of the lab's own namespace: lo there is its own device)."""
    if not MTU_RANGE[0] <= mtu <= MTU_RANGE[1]:
        raise TcpsimError(f"--mtu {mtu} is outside what tcpsim models ({MTU_RANGE[0]} to "
                          f"{MTU_RANGE[1]}); give an MTU in that range, such as 1500")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            fcntl.ioctl(s, SIOCSIFMTU, _ifreq(name, "i", mtu))
        except OSError as e:
            raise TcpsimError(f"the kernel refused MTU {mtu} for {name} ({e.strerror}); give an "
                              f"MTU between {MTU_RANGE[0]} and {MTU_RANGE[1]}") from None


def link_mtu(name: str = "lo") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        return struct.unpack_from("i", fcntl.ioctl(s, SIOCGIFMTU, _ifreq(name, "i")), 16)[0]


def pin_route_congestion(cc: str) -> bool:
    """Make every TCP connection over lo in this (private) namespace run congestion control
    `cc`, whatever its sockets or the namespace's default say: the local routes of 127.0.0.0/8,
    127.0.0.1 and ::1 get the route metric RTAX_CC_ALGO (`ip route ... congctl cc`), which
    tcp_ca_dst_init() applies to a connecting socket (tcp_connect_init()) and to every child
    a listener makes (tcp_ca_openreq_child()).  For programs tcpsim does not control (`tcpsim
    trace`): a namespace may choose only reno or bbr by sysctl (tcp_set_default_congestion_
    control() refuses what tcp_allowed_congestion_control does not list), and setting it on
    each socket would show in the program's own calls.  Measured here: a client, an accepted
    child, a client and a listener that set reno themselves, IPv6 and IPv4-mapped all run
    cubic.  False when `ip` is missing or the kernel refuses (the namespace's default runs)."""
    def ip(*args: str) -> bool:
        try:
            return subprocess.run(["ip", *args], stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    for pfx in ("127.0.0.0/8", "127.0.0.1"):
        if not ip("-4", "route", "replace", "local", pfx, "dev", "lo", "table", "local", "proto",
                  "kernel", "scope", "host", "src", "127.0.0.1", "congctl", cc):
            return False
    # ::1's route has metric 0, which `ip -6 route replace` cannot name: it is taken down and
    # made again (as it was, should the kernel refuse congctl; a kernel without IPv6 has none)
    v6 = ["route", "add", "local", "::1", "dev", "lo", "table", "local", "proto", "kernel"]
    if ip("-6", "route", "del", "local", "::1", "dev", "lo", "table", "local") \
            and not ip("-6", *v6, "congctl", cc):
        ip("-6", *v6)
        return False
    return True


# include/uapi/linux/capability.h: what the lab uses, and for what
_CAPS = {21: ("CAP_SYS_ADMIN", "to make a private network namespace"),
         12: ("CAP_NET_ADMIN", "to bring its loopback up and set its firewall rules"),
         13: ("CAP_NET_RAW", "to capture its loopback")}


def missing_capabilities() -> list[tuple[str, str]]:
    """(name, what for) of each capability the lab needs and this process lacks."""
    try:
        status = open("/proc/self/status").read()
        eff = int(status.split("CapEff:", 1)[1].split()[0], 16)
    except (OSError, IndexError, ValueError):  # pragma: no cover - not Linux
        return list(_CAPS.values())
    return [v for bit, v in _CAPS.items() if not eff >> bit & 1]


def current_netns() -> str:
    return os.readlink("/proc/thread-self/ns/net")


@contextmanager
def private_netns(who: str = "tcpsim lab"):
    """Run the body in a fresh network namespace with only lo, up; come back afterwards.
    who: the command that needs it, as the sentence without privileges names it."""
    missing = missing_capabilities()
    if missing and missing[0][0] != "CAP_SYS_ADMIN":  # without it: unshare()'s sentence below
        raise PrivilegeError(
            f"{who} needs " + " and ".join(f"{n} ({why})" for n, why in missing)
            + ", which this process lacks: run it as root with all its capabilities, for "
            "example with sudo")
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.unshare(CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            if err == errno.EPERM:
                raise PrivilegeError(
                    f"{who} needs to create a private network namespace, which takes root "
                    "(CAP_SYS_ADMIN): run it as root, for example with sudo")
            raise PrivilegeError(f"{who} could not create a private network namespace "
                                 f"({os.strerror(err)}): run it on Linux as root")
        try:
            link_up("lo")
            yield
        finally:
            if _libc.setns(home, CLONE_NEWNET) != 0:  # pragma: no cover - needs a broken kernel
                raise OSError(ctypes.get_errno(), "setns back to the original network namespace")
    finally:
        os.close(home)


@contextmanager
def realtime(priority: int = 1):
    """Run the body with the calling thread at a real-time priority (SCHED_FIFO), so that a
    busy machine cannot stretch the gaps between the lab's calls past a kernel timer: a C
    program's calls follow each other in microseconds, the lab's need ~0.1 ms of observation
    each, and an ordinary thread beside CPU-bound processes waits whole timeslices (several
    ms) for the CPU.  Priority 1 is enough to run before every ordinary task; the kernel's
    RT throttling (sched_rt_runtime_us) keeps 5% of each second for the rest.  The thread's
    policy is restored after; SCHED_RESET_ON_FORK keeps it from processes the lab forks.
    Yields whether it took effect (it needs CAP_SYS_NICE, which root has)."""
    try:
        old = os.sched_getscheduler(0), os.sched_getparam(0)
        os.sched_setscheduler(0, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK,
                              os.sched_param(priority))
    except OSError:
        yield False
        return
    try:
        yield True
    finally:
        os.sched_setscheduler(0, old[0], old[1])


CLONE_NEWNS, CLONE_FS = 0x00020000, 0x00000200
MS_REC, MS_PRIVATE = 0x4000, 1 << 18


def _mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
           data: str | None = None) -> None:
    enc = (lambda s: None if s is None else s.encode())
    if _libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {fstype or ''} on {target}: {os.strerror(err)}")


@contextmanager
def private_tmp():
    """Give the calling thread a /tmp of its own for the body: a mount namespace of its own
    (unshare(CLONE_NEWNS), with CLONE_FS: a thread shares its fs_struct with the others, and
    the kernel refuses a new mount namespace to a task that shares it), every mount in it
    private (nothing propagates to the host's), and over /tmp an overlay whose lower layer is
    the host's /tmp (read as it is) and whose upper layer is a tmpfs: a file written, changed
    or removed there is the run's alone, and goes with the namespace when the thread leaves
    it (setns() back; the kernel frees an unused mount namespace and its mounts, also when
    the process dies).  Commands forked from this thread (packetdrill scripts' `rm -f
    /tmp/testfile; dd ... of=/tmp/testfile`) and the files the script open()s see the same
    /tmp.  Yields whether it took effect (not without CAP_SYS_ADMIN, or a kernel without
    overlayfs); the thread's working directory, which setns() resets to /, is restored."""
    try:
        home = os.open("/proc/thread-self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        yield False
        return
    cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    lower = None
    entered = False
    try:
        if _libc.unshare(CLONE_NEWNS | CLONE_FS) != 0:
            yield False
            return
        entered = True
        try:
            _mount(None, "/", None, MS_REC | MS_PRIVATE)
            # the host's /tmp, held open before the tmpfs covers it: overlayfs takes it as
            # its lower layer by this descriptor's path (/proc/self/fd/N resolves to it)
            lower = os.open("/tmp", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            _mount("tcpsim", "/tmp", "tmpfs", 0, "size=64m,mode=700")
            for d in ("/tmp/upper", "/tmp/work"):
                os.mkdir(d, 0o700)
            _mount("overlay", "/tmp", "overlay", 0,
                   f"lowerdir=/proc/self/fd/{lower},upperdir=/tmp/upper,workdir=/tmp/work")
        except OSError:
            ok = False
        else:
            ok = True
        yield ok
    finally:
        if lower is not None:
            os.close(lower)
        if entered and _libc.setns(home, CLONE_NEWNS) != 0:  # pragma: no cover
            raise OSError(ctypes.get_errno(), "setns back to the original mount namespace")
        os.fchdir(cwd)
        os.close(cwd)
        os.close(home)
