"""User-facing errors: one line that names the file and the fix."""


class BertdistilError(Exception):
    """An input problem the user can fix; the CLI prints it as a single line and exits with 2."""
