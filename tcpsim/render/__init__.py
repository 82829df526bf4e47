"""Renderers: a Trace as text (and, later, ladders, diagrams, reports)."""

from .timeline import render_header, render_summary, render_timeline

__all__ = ["render_header", "render_summary", "render_timeline"]
