"""A small display list drawn two ways: as SVG text, and as a PNG through Pillow.

The diagrams (ladder, state diagram) are laid out once, in pixels, as shapes on a Canvas; the
SVG and the PNG are two renderings of the same list, so they cannot disagree.  Pillow ships
its own FreeType, so a PNG comes out on a fresh machine; only Chinese labels need a CJK font
from the system (fonts-wqy-zenhei or fonts-noto-cjk), and its absence is said in one sentence.
Text is measured with the font that draws it (Pillow's FreeType metrics of DejaVu Sans, or
the CJK font a label with Chinese characters takes), for the PNG and the SVG alike: the SVG
names the same fonts first.  Only a Chinese label without a Chinese font installed is
measured by a width model (CJK characters one em wide, others 0.6 em).
"""

from __future__ import annotations

import math
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

from ..errors import TcpsimError

FONT_FAMILY = "DejaVu Sans, Helvetica, Arial, 'Noto Sans CJK SC', 'WenQuanYi Zen Hei', sans-serif"

# Where Debian's packages put their fonts (fc-match is asked first when it exists).
_LATIN_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)
_CJK_FONTS = ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
              "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
              "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
              "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
              "/usr/share/fonts/truetype/arphic/uming.ttc")


def is_wide(ch: str) -> bool:
    o = ord(ch)
    return 0x2E80 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0xFF00 <= o <= 0xFF60 or 0x3000 <= o <= 0x303F


_MEASURE_PX = 64  # the size text is measured at, then scaled: FreeType's hinting at 11 px
# would round each advance to a whole pixel


def text_width(text: str, size: float, bold: bool = False, mono: bool = False) -> float:
    """The width of text drawn at size (px), with the font _png_text() draws it with."""
    return _measure(text, bold, mono) * size / _MEASURE_PX


@lru_cache(maxsize=4096)
def _measure(text: str, bold: bool, mono: bool) -> float:
    cjk = any(is_wide(c) for c in text)
    if cjk and font_file(True) is None:  # no Chinese font to measure with: the width model
        return sum(_MEASURE_PX if is_wide(c) else 0.6 * _MEASURE_PX for c in text)
    # (without DejaVu, Pillow's own scalable font draws it, and measures it)
    return _font(_MEASURE_PX, cjk, bold, mono).getlength(text)


@dataclass
class Shape:
    kind: str  # line | rect | text | poly | path | circle
    args: dict
    cls: str = ""  # a class name in the SVG, for tests and styling
    title: str = ""  # a tooltip in the SVG


@dataclass
class Canvas:
    width: float
    height: float
    shapes: list[Shape] = field(default_factory=list)
    background: str = "#ffffff"

    # -- drawing ------------------------------------------------------------------------
    def line(self, x1, y1, x2, y2, color="#000", width=1.0, dash: str = "", arrow=False,
             cls="", title=""):
        self.shapes.append(Shape("line", dict(x1=x1, y1=y1, x2=x2, y2=y2, color=color,
                                              width=width, dash=dash), cls, title))
        if arrow:
            self.arrowhead(x1, y1, x2, y2, color, cls=cls)

    def arrowhead(self, x1, y1, x2, y2, color="#000", size=9.0, cls=""):
        a = math.atan2(y2 - y1, x2 - x1)
        pts = [(x2, y2),
               (x2 - size * math.cos(a - 0.38), y2 - size * math.sin(a - 0.38)),
               (x2 - size * math.cos(a + 0.38), y2 - size * math.sin(a + 0.38))]
        self.poly(pts, fill=color, color=color, cls=(cls + "-head") if cls else "")

    def rect(self, x, y, w, h, fill="none", color="none", width=1.0, radius=0.0, cls="", title=""):
        self.shapes.append(Shape("rect", dict(x=x, y=y, w=w, h=h, fill=fill, color=color,
                                              width=width, radius=radius), cls, title))

    def circle(self, x, y, r, fill="none", color="#000", width=1.0, cls=""):
        self.shapes.append(Shape("circle", dict(x=x, y=y, r=r, fill=fill, color=color,
                                                width=width), cls))

    def poly(self, points, fill="none", color="#000", width=1.0, cls=""):
        self.shapes.append(Shape("poly", dict(points=list(points), fill=fill, color=color,
                                              width=width), cls))

    def curve(self, points, color="#000", width=1.0, dash="", cls="", title=""):
        """A smooth path through a quadratic Bezier: start, control, end."""
        self.shapes.append(Shape("path", dict(points=list(points), color=color, width=width,
                                              dash=dash), cls, title))

    def text(self, x, y, text, size=12.0, color="#000", anchor="start", bold=False,
             italic=False, rotate=0.0, cls="", title="", mono=False):
        """Text with its baseline at y; anchor start | middle | end."""
        self.shapes.append(Shape("text", dict(x=x, y=y, text=text, size=size, color=color,
                                              anchor=anchor, bold=bold, italic=italic,
                                              rotate=rotate, mono=mono), cls, title))

    # -- SVG ----------------------------------------------------------------------------
    def svg(self) -> str:
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width:.0f}" '
               f'height="{self.height:.0f}" viewBox="0 0 {self.width:.0f} {self.height:.0f}" '
               f'font-family="{FONT_FAMILY}">',
               f'<rect width="100%" height="100%" fill="{self.background}"/>']
        for s in self.shapes:
            out.append(_svg_shape(s))
        out.append("</svg>")
        return "\n".join(out) + "\n"

    def save(self, path: str | Path) -> None:
        """Write the picture as SVG or PNG, chosen by the file's suffix."""
        suffix = Path(path).suffix.lower()
        if suffix == ".png":
            self.png(path)
        elif suffix == ".svg":
            try:
                Path(path).write_text(self.svg(), encoding="utf-8")
            except OSError as e:
                raise TcpsimError(f"cannot write {path}: {e.strerror}; choose a writable path")
        else:
            raise TcpsimError(f"cannot tell the picture format of {path}; end the name with .svg "
                              "or .png")

    # -- PNG ----------------------------------------------------------------------------
    def png(self, path: str | Path, scale: float = 2.0) -> None:
        from PIL import Image, ImageDraw

        img = Image.new("RGB", (math.ceil(self.width * scale), math.ceil(self.height * scale)),
                        self.background)
        draw = ImageDraw.Draw(img)
        for s in self.shapes:
            _png_shape(img, draw, s, scale)
        try:
            img.save(path, "PNG")
        except OSError as e:
            raise TcpsimError(f"cannot write {path}: {e}; choose a writable path")


def _attrs(**kw) -> str:
    return " ".join(f'{k.replace("_", "-")}="{v}"' for k, v in kw.items() if v not in ("", None))


def _svg_shape(s: Shape) -> str:
    a = s.args
    if s.kind == "line":
        tag, attrs = "line", (f'x1="{a["x1"]:.1f}" y1="{a["y1"]:.1f}" x2="{a["x2"]:.1f}" '
                              f'y2="{a["y2"]:.1f}" ' + _attrs(stroke=a["color"], stroke_width=a["width"],
                                                               stroke_dasharray=a["dash"]))
    elif s.kind == "rect":
        tag, attrs = "rect", (f'x="{a["x"]:.1f}" y="{a["y"]:.1f}" width="{a["w"]:.1f}" '
                              f'height="{a["h"]:.1f}" ' + _attrs(fill=a["fill"], stroke=a["color"],
                                                                stroke_width=a["width"],
                                                                rx=a["radius"] or ""))
    elif s.kind == "circle":
        tag, attrs = "circle", (f'cx="{a["x"]:.1f}" cy="{a["y"]:.1f}" r="{a["r"]:.1f}" '
                                + _attrs(fill=a["fill"], stroke=a["color"], stroke_width=a["width"]))
    elif s.kind == "poly":
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in a["points"])
        tag, attrs = "polygon", f'points="{pts}" ' + _attrs(fill=a["fill"], stroke=a["color"],
                                                             stroke_width=a["width"])
    elif s.kind == "path":
        (x0, y0), (cx, cy), (x1, y1) = a["points"]
        tag, attrs = "path", (f'd="M{x0:.1f},{y0:.1f} Q{cx:.1f},{cy:.1f} {x1:.1f},{y1:.1f}" '
                              'fill="none" ' + _attrs(stroke=a["color"], stroke_width=a["width"],
                                                      stroke_dasharray=a["dash"]))
    else:
        tag, attrs = "text", (f'x="{a["x"]:.1f}" y="{a["y"]:.1f}" ' + _attrs(
            font_size=a["size"], fill=a["color"], text_anchor=a["anchor"],
            font_weight="bold" if a["bold"] else "", font_style="italic" if a["italic"] else "",
            font_family="DejaVu Sans Mono, monospace" if a["mono"] else "",
            transform=f'rotate({a["rotate"]:.1f} {a["x"]:.1f} {a["y"]:.1f})' if a["rotate"] else ""))
    attrs = attrs.rstrip() + (" " + _attrs(**{"class": s.cls}) if s.cls else "")
    inner = (f"<title>{escape(s.title)}</title>" if s.title else "") + (
        escape(a["text"]) if s.kind == "text" else "")
    return f"<{tag} {attrs}>{inner}</{tag}>" if inner else f"<{tag} {attrs}/>"


def _png_shape(img, draw, s: Shape, k: float) -> None:
    a = s.args
    if s.kind == "line":
        _png_line(draw, [(a["x1"] * k, a["y1"] * k), (a["x2"] * k, a["y2"] * k)], a["color"],
                  max(1, round(a["width"] * k)), bool(a["dash"]))
    elif s.kind == "rect":
        box = [a["x"] * k, a["y"] * k, (a["x"] + a["w"]) * k, (a["y"] + a["h"]) * k]
        fill = None if a["fill"] == "none" else a["fill"]
        outline = None if a["color"] == "none" else a["color"]
        draw.rounded_rectangle(box, radius=a["radius"] * k, fill=fill, outline=outline,
                               width=max(1, round(a["width"] * k)))
    elif s.kind == "circle":
        r = a["r"] * k
        draw.ellipse([a["x"] * k - r, a["y"] * k - r, a["x"] * k + r, a["y"] * k + r],
                     fill=None if a["fill"] == "none" else a["fill"], outline=a["color"],
                     width=max(1, round(a["width"] * k)))
    elif s.kind == "poly":
        draw.polygon([(x * k, y * k) for x, y in a["points"]],
                     fill=None if a["fill"] == "none" else a["fill"], outline=a["color"])
    elif s.kind == "path":
        (x0, y0), (cx, cy), (x1, y1) = a["points"]
        pts = []
        for i in range(25):
            t = i / 24
            pts.append((((1 - t) ** 2 * x0 + 2 * (1 - t) * t * cx + t * t * x1) * k,
                        ((1 - t) ** 2 * y0 + 2 * (1 - t) * t * cy + t * t * y1) * k))
        _png_line(draw, pts, a["color"], max(1, round(a["width"] * k)), bool(a["dash"]))
    else:
        _png_text(img, draw, a, k)


def _png_line(draw, pts, color, width, dashed) -> None:
    if not dashed:
        draw.line(pts, fill=color, width=width)
        return
    on, off = 5.0 * width, 4.0 * width
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        length = math.hypot(x1 - x0, y1 - y0)
        pos = 0.0
        while pos < length:
            end = min(pos + on, length)
            draw.line([(x0 + (x1 - x0) * pos / length, y0 + (y1 - y0) * pos / length),
                       (x0 + (x1 - x0) * end / length, y0 + (y1 - y0) * end / length)],
                      fill=color, width=width)
            pos += on + off


def _png_text(img, draw, a: dict, k: float) -> None:
    text = a["text"]
    font = _font(round(a["size"] * k), any(is_wide(c) for c in text), a["bold"], a["mono"])
    w = draw.textlength(text, font=font)
    x = a["x"] * k - (w / 2 if a["anchor"] == "middle" else w if a["anchor"] == "end" else 0)
    y = a["y"] * k
    if not a["rotate"]:
        draw.text((x, y), text, font=font, fill=a["color"], anchor="ls")
        return
    from PIL import Image, ImageDraw

    asc, desc = font.getmetrics()
    tile = Image.new("RGBA", (math.ceil(w) + 2, asc + desc + 2), (0, 0, 0, 0))
    ImageDraw.Draw(tile).text((1, 1 + asc), text, font=font, fill=a["color"], anchor="ls")
    turned = tile.rotate(-a["rotate"], expand=True, resample=Image.BICUBIC)
    img.paste(turned, (round(x), round(y - turned.height / 2)), turned)


def _fc_match(pattern: str) -> str | None:
    if not shutil.which("fc-match"):
        return None
    try:
        out = subprocess.run(["fc-match", "-f", "%{file}", pattern], capture_output=True,
                             text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out if out and Path(out).is_file() else None


@lru_cache(maxsize=None)
def font_file(cjk: bool, bold: bool = False, mono: bool = False) -> str | None:
    if cjk:
        found = next((f for f in _CJK_FONTS if Path(f).is_file()), None)
        if found is None:
            found = _fc_match(":lang=zh-cn")
            if found and "wqy" not in found.lower() and "cjk" not in found.lower() \
                    and "droid" not in found.lower():
                found = None  # fc-match's nearest font, not one that has Chinese glyphs
        return found
    name = "DejaVuSansMono" if mono else "DejaVuSans"
    for f in (f"/usr/share/fonts/truetype/dejavu/{name}{'-Bold' if bold else ''}.ttf",) + _LATIN_FONTS:
        if Path(f).is_file():
            return f
    return _fc_match("sans-serif:bold" if bold else "sans-serif")


@lru_cache(maxsize=None)
def _font(px: int, cjk: bool, bold: bool, mono: bool):
    from PIL import ImageFont

    path = font_file(cjk, bold, mono)
    if path is None and cjk:
        raise TcpsimError("this PNG has Chinese labels and no Chinese font is installed; install "
                          "one (apt install fonts-wqy-zenhei, or fonts-noto-cjk), or write SVG")
    if path is None:
        return ImageFont.load_default(px)  # Pillow's own scalable font
    return ImageFont.truetype(path, px)
