"""The one exception type that the CLI turns into a one-line message and exit code 2."""


class UserError(Exception):
    """Bad input from the user: the message names the problem and the fix, on one line.

    The message speaks Python (classes, sites, arguments): it is what a user of the library sees.
    ``cli``, when given, is the same message for the command line, naming config keys instead
    (``model.likelihood=normal``); the CLI prints it in place of the Python one.
    """

    def __init__(self, message: str, cli: str | None = None):
        super().__init__(message)
        self.cli = cli

    def for_cli(self) -> str:
        return self.cli or str(self)
