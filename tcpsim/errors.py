"""Errors a user can act on: each carries one sentence naming the problem and what to do;
and the exit status of every command, one meaning a code."""

# Every command's exit status, one meaning each, so that a script can tell a difference found
# from a file it could not read.  The README's table is checked against this dict
# (tests/test_cli.py): a new code is added here, then there.
EXIT_CODES = {
    0: "success: every result matched (the program's expectations, the kernel, the model's "
       "rules, the script)",
    1: "a difference: a result the program did not expect, the model and the kernel disagree, "
       "a capture departs from the rules or from the program, a free run outside the program's "
       "exchanges, a packetdrill script fails",
    2: "unusable input: a wrong argument, a malformed program or script, an unreadable "
       "capture, an unwritable output path, a missing tool",
    3: "needs root: the real-kernel lab cannot make its private network namespace",
    4: "reading stopped part way: a capture is damaged after its first frames (the findings "
       "before it stand)",
    5: "unsupported: a packetdrill script needs what the model does not do",
    6: "stuck: every process of the program waits and nothing happens (run and lab show the "
       "timeline up to there)",
    7: "incomplete: the lab's capture lost frames (the kernel's drop count), so the kernel's "
       "run is not whole and was not compared",
    130: "interrupted (Ctrl-C); nothing is left behind",
}
OK, DIFFERS, USAGE, NEEDS_ROOT, STOPPED, UNSUPPORTED, STUCK, INCOMPLETE, INTERRUPTED = \
    EXIT_CODES


class TcpsimError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""

    exit_code = USAGE


class PrivilegeError(TcpsimError):
    """The real-kernel lab cannot make its private network namespace."""

    exit_code = NEEDS_ROOT
