"""The one exception type for mistakes a user can make (bad files, missing data, impossible C x d)."""


class UserError(Exception):
    """A user-caused error: the CLI prints it as one line and exits with code 2."""
