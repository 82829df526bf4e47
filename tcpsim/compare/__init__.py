"""Checking a capture made elsewhere: its TCP connections, each end followed through the
transition table of the model, and every place the capture departs from a conforming stack."""

from .tracker import Connection, Finding, Tracker, analyse

__all__ = ["Connection", "Finding", "Tracker", "analyse"]
