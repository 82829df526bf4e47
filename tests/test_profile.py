"""KernelProfile: sysctls in, the values TCP derives from them out."""

import pytest

from tcpsim.errors import TcpsimError
from tcpsim.model import KernelProfile, builtin_profiles


def test_reference_profile_derives_the_measured_values():
    p = KernelProfile.builtin("reference")
    assert (p.mtu, p.mss(), p.mss(10), p.rcv_wscale) == (65536, 65495, 65476, 10)
    assert (p.timestamps, p.sack, p.window_scaling) == (True, True, True)
    assert p.ato_min == pytest.approx(0.040) and p.syn_linear_timeouts == 4


@pytest.mark.parametrize("rmem_max, shift", [("33554432", 10), ("6291456", 7), ("65535", 0),
                                              ("4194304", 7)])
def test_window_scale_comes_from_the_largest_receive_buffer(rmem_max, shift):
    p = KernelProfile.from_sysctls("t", {"net.ipv4.tcp_rmem": "4096 131072 4096",
                                         "net.core.rmem_max": rmem_max})
    assert p.rcv_wscale == shift


def test_from_host_reads_proc_sys(tmp_path):
    ipv4, core = tmp_path / "net" / "ipv4", tmp_path / "net" / "core"
    ipv4.mkdir(parents=True)
    core.mkdir(parents=True)
    (ipv4 / "tcp_timestamps").write_text("0\n")
    (ipv4 / "tcp_rmem").write_text("4096\t87380\t6291456\n")
    (core / "rmem_max").write_text("212992\n")
    p = KernelProfile.from_host(tmp_path)
    assert p.timestamps is False and p.rmem == (4096, 87380, 6291456) and p.rcv_wscale == 7


def test_from_host_without_proc_says_what_to_use(tmp_path):
    with pytest.raises(TcpsimError, match="use --profile reference where /proc is absent"):
        KernelProfile.from_host(tmp_path)


def test_builtin_profiles_are_listed():
    assert {"reference", "tun-1500"} <= set(builtin_profiles())
