"""The lab: scenario programs on real sockets, in a private network namespace."""

from .executor import Lab, LabStuck, run_lab

__all__ = ["Lab", "LabStuck", "run_lab"]
