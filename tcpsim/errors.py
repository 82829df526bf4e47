"""Errors a user can act on: each carries one sentence naming the problem and what to do."""


class TcpsimError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""

    exit_code = 2


class PrivilegeError(TcpsimError):
    """The real-kernel lab cannot make its private network namespace."""

    exit_code = 3
