"""The model: a sans-I/O Linux TCP stack whose state changes follow one table (table.py)."""

from .kernel import Kernel, Seg, Sock
from .profile import KernelProfile, builtin_profiles
from .table import RULES, STATES, graph, rule

__all__ = ["Kernel", "KernelProfile", "RULES", "STATES", "Seg", "Sock", "builtin_profiles",
           "graph", "rule"]
