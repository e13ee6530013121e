"""Project exceptions for errors a user can cause.

The CLI catches :class:`UserError` and prints its message on one line with exit status 2.
"""


class UserError(Exception):
    """An error caused by user input (a bad layer, config or file); the message says the fix."""


class WorkloadError(UserError):
    """A layer or network description that cannot be computed."""
