"""The ``packshot`` command line: one module per group of commands, the root in :mod:`.main`.

Commands only parse arguments, call the pipeline and turn its errors into exit codes;
``packshot.cli:run`` is the installed entry point and ``python -m packshot.cli`` runs it too.
"""

from __future__ import annotations

from packshot.cli.main import INTERNAL_EXIT_CODE, app, run

__all__ = ["INTERNAL_EXIT_CODE", "app", "run"]
