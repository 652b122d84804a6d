"""``packshot serve`` and ``packshot keys``: run the HTTP service and manage its API keys."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from packshot.cli.errors import fail
from packshot.errors import PackshotError

keys_app = typer.Typer(help="API keys of the HTTP service (stored hashed).", no_args_is_help=True)
out = Console(highlight=False, soft_wrap=True)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Job store, inputs and results (default $PACKSHOT_DATA_DIR or ./packshot-data).",
    ),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="SQLAlchemy URL (default: SQLite in the data dir)."),
]


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    model: Annotated[
        str | None, typer.Option(help="Default cutout model (e.g. u2net, u2netp).")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Job worker threads.")] = None,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Accept requests without an API key (local use).")
    ] = False,
) -> None:
    """Run the HTTP API (OpenAPI docs at /docs, review page at /review)."""
    import dataclasses

    import uvicorn

    from packshot.service.app import create_app
    from packshot.service.settings import Settings

    try:
        settings = Settings.from_env(data_dir, database_url)
        settings = dataclasses.replace(
            settings,
            model=model or settings.model,
            workers=workers or settings.workers,
            auth=settings.auth and not no_auth,
            public_url=settings.public_url or _bind_url(host, port),
        )
        app = create_app(settings)
    except PackshotError as exc:
        raise fail(exc) from None
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _bind_url(host: str, port: int) -> str:
    """The links' base when PACKSHOT_PUBLIC_URL is unset: the address served on; for a
    wildcard address, none (each link then names the address its request arrived at)."""
    if host in ("0.0.0.0", "::", ""):
        return ""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _store(data_dir: Path | None, database_url: str | None):  # type: ignore[no-untyped-def]
    from packshot.service.settings import Settings
    from packshot.service.store import Store

    settings = Settings.from_env(data_dir, database_url).prepare()
    return Store(settings.db_url)


def _when(t: float | None) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%SZ") if t else "-"


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="Who the key is for.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a key; the key itself is printed once, alone on the last line."""
    from packshot.service.auth import create_key

    try:
        info, key = create_key(_store(data_dir, database_url), name)
    except PackshotError as exc:
        raise fail(exc) from None
    out.print(
        f"created {info.id} ({info.name}); store this key now, it is not shown again:", markup=False
    )
    print(key)


@keys_app.command("list")
def keys_list(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Keys with their ids, names and state (never the keys themselves)."""
    from packshot.service.auth import list_keys

    try:
        keys = list_keys(_store(data_dir, database_url))
    except PackshotError as exc:
        raise fail(exc) from None
    for k in keys:
        state = f"revoked {_when(k.revoked_at)}" if k.revoked_at else "active"
        out.print(f"{k.id}\t{k.name}\tcreated {_when(k.created_at)}\t{state}", markup=False)


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="Key id (key_...) or name.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a key: requests with it are refused from now on."""
    from packshot.service.auth import revoke_key

    try:
        info = revoke_key(_store(data_dir, database_url), key)
    except PackshotError as exc:
        raise fail(exc) from None
    out.print(f"revoked {info.id} ({info.name})", markup=False)
