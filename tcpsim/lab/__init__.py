"""The lab: scenario programs on real sockets, in a private network namespace."""

from .executor import LabStuck, LabWorld, run_lab

__all__ = ["LabStuck", "LabWorld", "run_lab"]
