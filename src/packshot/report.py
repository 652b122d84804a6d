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
from typing import Any

from packshot.cost import batch_cost, output_cost
from packshot.errors import PackshotError
from packshot.imageio import load_image, save_image
from packshot.ops.geometry import fit_within
from packshot.pipeline.cutout import ItemResult
from packshot.pipeline.manifest import TargetRecord

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
.passed{color:#0a7a2f} table.checks{font-size:11px;border-collapse:collapse;margin-top:4px}
table.checks td,table.checks th{padding:0 4px;text-align:left}
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
                        **({"compute": _cutout_cost(r)} if r.ok else {}),
                    }
                    for r in results
                ],
                "cost": batch_cost(_cutout_cost(r) for r in results if r.ok),
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


def _cutout_cost(result: ItemResult) -> dict[str, Any]:
    return output_cost(result.cpu_s, ["background-removal"])


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


def _gate_html(gate: object) -> str:
    """The gate's verdict, reasons and every check's value against its threshold."""
    if not isinstance(gate, dict):
        return ""
    verdict = str(gate.get("verdict", ""))
    cls = "failed" if verdict == "hold" else "passed"
    parts = [f'<br><b class="{cls}">gate: {html.escape(verdict)}</b>']
    parts += [f'<br><span class="failed">{html.escape(str(r))}</span>' for r in gate["reasons"]]
    rows = []
    for check in gate.get("checks", []):
        mark = "ok" if check["passed"] else "FAIL"
        value, limit = _short(check["value"]), _short(check["threshold"])
        rows.append(
            f'<tr class="{"" if check["passed"] else "failed"}"><td>{mark}</td>'
            f"<td>{html.escape(check['name'])}</td><td>{html.escape(value)}</td>"
            f'<td>{html.escape(limit)}</td><td title="{html.escape(check["detail"])}">'
            "&#9432;</td></tr>"
        )
    parts.append(
        '<table class="checks"><tr><th></th><th>check</th><th>value</th><th>limit</th>'
        f"<th></th></tr>{''.join(rows)}</table>"
    )
    return "".join(parts)


def _short(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_listing_report(
    records: Sequence[TargetRecord], out_dir: Path, *, title: str = "packshot listing"
) -> Path:
    """``report.json`` and ``report.html`` for a listing batch; returns the HTML path.

    Each SKU is a row: its source beside every target's output (thumbnails) with the
    measured fill, size, format, bytes, method and timings, or the reason it failed.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(
        json.dumps(
            {
                "title": title,
                "done": sum(r.ok for r in records),
                "held": sum(r.held for r in records),
                "failed": sum(not r.ok and not r.held for r in records),
                "cost": batch_cost(r.info.get("compute", {}) for r in records),
                "targets": [
                    {
                        "sku": r.sku,
                        "target": r.target,
                        "source": r.source,
                        "state": r.state,
                        "output": r.output,
                        "bytes": r.bytes,
                        "error": r.error,
                        **r.info,
                    }
                    for r in records
                ],
            },
            indent=2,
        )
    )
    thumbs = out_dir / "_thumbs"
    by_sku: dict[str, list[TargetRecord]] = {}
    for rec in records:
        by_sku.setdefault(rec.sku, []).append(rec)
    rows = []
    for sku, recs in by_sku.items():
        source = recs[0].source
        local = None if source.startswith(("http://", "https://")) else Path(source)
        src_thumb = _source_thumbnail(local, thumbs / sku / "source.jpg") if local else None
        cells = [_figure(src_thumb, out_dir, "source")]
        for rec in recs:
            if (not rec.ok and not rec.held) or rec.output is None:
                cells.append(
                    f'<div class="meta failed"><b>{html.escape(rec.target)}</b><br>'
                    f"{html.escape(rec.error or '')}</div>"
                )
                continue
            thumb = _source_thumbnail(Path(rec.output), thumbs / sku / f"{rec.target}.jpg")
            info = rec.info
            facts = [
                f"{info.get('width')}x{info.get('height')} {info.get('format')}",
                f"{(rec.bytes or 0) / 1024:.0f} KB, quality {info.get('quality')}",
                f"method {info.get('method')}",
            ]
            if "fill" in info:
                facts.append(f"fill {info['fill']:.1%} (area {info.get('area_share', 0):.1%})")
            if "synthesized_share" in info:
                facts.append(f"synthesised {info['synthesized_share']:.1%}")
            facts.append(
                f"{info.get('cutout_s', 0):.2f} s cutout + {info.get('target_s', 0):.2f} s"
            )
            caption = f"<b>{html.escape(rec.target)}</b><br>" + "<br>".join(
                html.escape(f) for f in facts
            )
            caption += _gate_html(info.get("gate"))
            rel = html.escape(os.path.relpath(rec.output, out_dir))
            src = html.escape(os.path.relpath(thumb or rec.output, out_dir))
            cells.append(
                f'<figure><a href="{rel}"><img src="{src}" alt=""></a>'
                f"<figcaption>{caption}</figcaption></figure>"
            )
        rows.append(
            f'<div class="item"><div class="meta"><b>{html.escape(sku)}</b></div>'
            + "".join(cells)
            + "</div>"
        )
    done = sum(r.ok for r in records)
    held = sum(r.held for r in records)
    page = (
        f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style><h1>{html.escape(title)}</h1>"
        f"<p>{done} outputs delivered, {held} held for review (in held/), "
        f"{len(records) - done - held} failed</p>" + "".join(rows)
    )
    index = out_dir / "report.html"
    index.write_text(page, encoding="utf-8")
    return index
