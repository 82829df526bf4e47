"""packetdrill scripts: read them and run them against the model (run.py), write them from
tcpsim programs (export.py)."""

from .run import Outcome, Unsupported, packetdrill_profile, run_script
from .syntax import Script, ScriptError, load, parse

__all__ = ["Outcome", "Script", "ScriptError", "Unsupported", "load", "packetdrill_profile",
           "parse", "run_script"]
