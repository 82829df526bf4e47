"""`tcpsim report`: one self-contained HTML file, checked as a browser shows it."""

import base64
import re
import shutil
import struct
import subprocess

import pytest

from .conftest import run_cli


def _report(tmp_path, *args, name="report.html") -> str:
    r = run_cli("report", "handshake", "-o", tmp_path / name, *args, check=True)
    assert name in r.stdout
    return (tmp_path / name).read_text(encoding="utf-8")


def test_the_report_holds_program_diagrams_and_explanations(tmp_path):
    html = _report(tmp_path, "--no-lab")
    for heading in ("The program", "Checked against the real kernel", "Sequence diagram",
                    "State diagram", "Timeline · Why each step happened"):
        assert f">{heading}</h2>" in html, heading
    assert "server: send(c, &#34;Hello from server!\\n&#34;, 0) = 19" in html  # the program
    assert html.count("<svg") == 2  # the ladder and the state diagram, inline
    assert len(re.findall(r'<line [^>]*class="segment"', html)) == 8  # the ladder's arrows
    assert 'class="verdict none"' in html and "--no-lab" in html
    # the timeline: one row per step, a reason beside each, phases as separators
    assert html.count('<tr class="segment">') == 8
    assert "The first segment of the three-way handshake" in html
    assert [p for p in re.findall(r'<tr class="phase"><td colspan="4">([^<]+)</td>', html)] == [
        "Connection establishment · three-way handshake", "Data transfer · data and its ACKs",
        "Connection release · FIN and ACK in each direction"]


def test_the_report_needs_no_network(tmp_path):
    html = _report(tmp_path, "--no-lab")
    links = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', html)
    assert all(not re.match(r"(https?:)?//", link) for link in links), links
    assert "@import" not in html and "<script" not in html
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) <= {"http://www.w3.org/2000/svg"}


def test_the_report_in_chinese(tmp_path):
    html = _report(tmp_path, "--no-lab", "--lang", "zh")
    assert 'lang="zh-CN"' in html and ">程序</h2>" in html and ">状态转换图</h2>" in html
    assert "连接建立阶段 · 三次握手" in html and "三次握手的第一个报文段" in html


def test_a_report_to_an_unwritable_place_is_one_sentence(tmp_path):
    r = run_cli("report", "handshake", "--no-lab", "-o", tmp_path / "no" / "such" / "r.html")
    assert r.returncode != 0 and "cannot write" in r.stderr and "Traceback" not in r.stderr


def _pcap_records(data: bytes) -> int:
    magic = struct.unpack_from("<I", data)[0]
    assert magic in (0xA1B2C3D4, 0xA1B23C4D)
    n, off = 0, 24
    while off < len(data):
        caplen = struct.unpack_from("<I", data, off + 8)[0]
        off += 16 + caplen
        n += 1
    return n


def test_the_report_carries_the_kernels_verdict_and_capture(tmp_path, live):
    html = _report(tmp_path, "--lab")
    assert 'class="verdict match"' in html
    assert "did exactly what the model says: 8 segments" in html
    uri = re.search(r'download="handshake.pcap" href="data:application/vnd.tcpdump.pcap;'
                    r'base64,([A-Za-z0-9+/=]+)"', html)
    assert uri and _pcap_records(base64.b64decode(uri.group(1))) == 8
    assert html.count('class="match"') == 8  # every segment of the ladder marked as matched


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _cjk_font() -> bool:
    from tcpsim.render.canvas import font_file

    return font_file(True) is not None


def _screenshot(browser: str, html_path, png_path, tmp_path, height=4200) -> subprocess.CompletedProcess:
    return subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--user-data-dir={tmp_path / 'profile'}", f"--window-size=1280,{height}",
         f"--screenshot={png_path}", html_path.as_uri()],
        capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_report_looks_right_in_headless_chromium(tmp_path, lang):
    browser = _chromium()
    if browser is None:
        pytest.skip("Chromium is not installed (scripts/test installs Debian's chromium)")
    if lang == "zh" and not _cjk_font():
        pytest.skip("no Chinese font (scripts/test installs fonts-wqy-zenhei)")
    from PIL import Image

    _report(tmp_path, "--no-lab", "--lang", lang)
    html_path, png = tmp_path / "report.html", tmp_path / "shot.png"
    r = _screenshot(browser, html_path, png, tmp_path)
    assert png.is_file(), r.stderr[-2000:]
    with Image.open(png) as img:
        assert img.size == (1280, 4200)
        rgb = img.convert("RGB")
        colours = dict((c, n) for n, c in rgb.getcolors(1 << 22))
    total = 1280 * 4200
    white = colours.get((255, 255, 255), 0)
    assert white < 0.9 * total, "the page is (nearly) blank"
    # the ladder's three phase bands and the state boxes are painted: the SVGs rendered
    for fill in ((0xE8, 0xF1, 0xFB), (0xEE, 0xF7, 0xEA), (0xFB, 0xEF, 0xE6)):
        assert colours.get(fill, 0) > 20_000, fill
    # the page lays out as written: the DOM the browser built has both diagrams and every row
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", html_path.as_uri()],
        capture_output=True, text=True, timeout=120).stdout
    assert dom.count("<svg") == 2 and dom.count('<tr class="segment">') == 8
