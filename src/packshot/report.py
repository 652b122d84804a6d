"""Batch reports: ``report.json`` for machines and ``index.html`` for people.

The HTML page shows each source beside its cutout over a checkerboard, magenta and white
(the browser composites the PNG's alpha over CSS backgrounds), so halos, fringes and
missing parts are visible at a glance; failed items are listed with their reasons.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from pathlib import Path

from packshot.errors import PackshotError
from packshot.imageio import load_image, save_image
from packshot.ops.geometry import fit_within
from packshot.pipeline.cutout import ItemResult

THUMB_SIDE = 480

_STYLE = """
body{font:14px system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:20px} .item{display:flex;gap:12px;align-items:flex-start;margin:16px 0;
padding:12px;background:#fff;border:1px solid #ddd;border-radius:6px;flex-wrap:wrap}
.item figure{margin:0} figcaption{font-size:12px;color:#666;margin-top:4px}
.item img{max-width:300px;max-height:300px;display:block}
.checker{background:repeating-conic-gradient(#ccc 0% 25%,#fff 0% 50%) 0 0/16px 16px}
.magenta{background:#f0f} .white{background:#fff;outline:1px solid #eee}
.failed{color:#b00020} .meta{font-size:12px;color:#444;min-width:200px}
"""


def write_cutout_report(
    results: Sequence[ItemResult], out_dir: Path, *, title: str = "packshot cutout"
) -> Path:
    """Write ``report.json`` and ``index.html`` into ``out_dir``; returns the HTML path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    thumbs = out_dir / "_sources"
    (out_dir / "report.json").write_text(
        json.dumps(
            {
                "title": title,
                "written": sum(r.ok for r in results),
                "failed": sum(not r.ok for r in results),
                "items": [
                    {
                        "source": r.source,
                        "output": r.output,
                        "error": r.error,
                        "seconds": round(r.seconds, 3),
                    }
                    for r in results
                ],
            },
            indent=2,
        )
    )
    rows = []
    for result in results:
        if result.output is None:
            rows.append(
                f'<div class="item failed"><b>{html.escape(Path(result.source).name)}</b>'
                f" {html.escape(result.error or '')}</div>"
            )
            continue
        output = Path(result.output)
        thumb = thumbs / f"{output.stem}.jpg"
        source_cell = _source_thumbnail(Path(result.source), thumb)
        rel = html.escape(os.path.relpath(output, out_dir))
        cells = "".join(
            f'<figure><img class="{bg}" src="{rel}" alt=""><figcaption>on {bg}</figcaption>'
            "</figure>"
            for bg in ("checker", "magenta", "white")
        )
        rows.append(
            f'<div class="item">{_figure(source_cell, out_dir, "source")}{cells}'
            f'<div class="meta"><b>{html.escape(Path(result.source).name)}</b><br>'
            f"{result.seconds:.2f} s</div></div>"
        )
    page = (
        f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style><h1>{html.escape(title)}</h1>"
        f"<p>{sum(r.ok for r in results)} written, {sum(not r.ok for r in results)} failed</p>"
        + "".join(rows)
    )
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def _source_thumbnail(source: Path, thumb: Path) -> Path | None:
    try:
        pixels = load_image(source, keep_alpha=False).pixels
        save_image(fit_within(pixels, THUMB_SIDE), thumb, quality=85)
    except PackshotError:
        return None
    return thumb


def _figure(path: Path | None, out_dir: Path, caption: str) -> str:
    if path is None:
        return f"<figure><figcaption>{caption} unavailable</figcaption></figure>"
    rel = html.escape(os.path.relpath(path, out_dir))
    return f'<figure><img src="{rel}" alt=""><figcaption>{caption}</figcaption></figure>'
