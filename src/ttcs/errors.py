"""Errors that reach the user as one line and exit code 2."""


class UserError(Exception):
    """A mistake the user can fix: bad file, unknown model, invalid option combination.

    The message is one line that says what is wrong and how to fix it.
    """
