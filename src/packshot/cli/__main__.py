"""``python -m packshot.cli``: the same as the installed ``packshot`` command."""

from packshot.cli.main import run

run()
