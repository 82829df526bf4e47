"""Renderers: a Trace as text (timeline, ladder), and a verdict."""

from .ladder import render_ladder
from .timeline import render_header, render_summary, render_timeline

__all__ = ["render_header", "render_ladder", "render_summary", "render_timeline"]
