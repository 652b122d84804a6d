"""Listing speed: the amazon-main + shopify + etsy fan-out of one photo, stage by stage.

    python benchmarks/listing.py [--data ../shared/eval/dev] [--samples] [--no-dev]
                                 [--market amazon-main,shopify,etsy] [--model u2net]
                                 [--cores 2] [--limit N] [--per-image]
                                 [--batch N] [--json FILE]

Per source photo, in one process with ``--cores`` threads (ONNX Runtime and OpenCV; the
process is also pinned to that many CPUs when more are available), runs what
``packshot listing`` runs for each target at its preset size, timing each stage apart:

``decode``      :func:`packshot.pipeline.sources.load_source`
``segment``     the salient model ensemble (``cutout().timings["model_s"]``)
``refine``      full-resolution matte refinement + decontamination (``refine_s``)
``cutout-misc`` the rest of :func:`cutout` (input checks, RGBA assembly)
``place``       white targets: :func:`place_on_canvas` (scale, place, compose on colour)
``extend``      background-keeping targets: :func:`extend_to_aspect` (studio-fit / patch)
``upscale``     FSRCNN passes inside :func:`resize_to` (when the target is >= 1.5x larger)
``resize``      the rest of :func:`resize_to` (area / Lanczos to the exact size)
``render-misc`` the rest of :func:`render_target` (mask threshold, bookkeeping)
``encode``      :func:`~packshot.pipeline.listing.encode_for` (format, quality, size budget)
``write``       :func:`write_bytes` (atomic write to a temporary folder)

The pipeline's own :func:`render_target` is called; ``place``, ``extend``, ``upscale`` and
``resize`` are split out by wrapping the names it calls in :mod:`packshot.pipeline.listing`
while this benchmark runs, so the figures follow the pipeline as it is. The first source
is run once untimed to load the models (``startup`` is timed apart).

Prints per-stage median / mean / max seconds per source, the end-to-end median seconds
per source for the whole fan-out beside the issue's target (< 3 s on 2 cores), and peak
memory: the process's peak resident set size (``getrusage`` ``ru_maxrss``: models,
Python and every native buffer), and the peak RSS while each source is processed (Linux:
``VmHWM`` reset through ``/proc/self/clear_refs`` before each source).

``--channels`` instead fans the licence-clean lifestyle set of
``benchmarks/reframe_data.py`` (sample photos and landscape crops of them) out to
``etsy,tiktok-shop,display-16x9,display-21x9`` through the pipeline's own
:func:`process_source` (cutout, plan, render, gate) and prints, per output, the verdict,
the plan (crop / extend / fallback composition) and the seam figure, then the share
delivered / held / failed; ``--sheet FILE`` saves every output side by side to look at.

``--batch N`` also times :func:`run_listing` over N sources (cycling through the photos)
with ``workers=1`` and ``workers=2`` into fresh folders, and prints images/s; the wall
time includes spawning workers and loading their models, as a real batch pays it.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

TARGET_S = 3.0  # issue 3: the three-marketplace fan-out of one photo, on 2 cores
DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "dev"
DEFAULT_MARKETS = "amazon-main,shopify,etsy"
CHANNELS = "etsy,tiktok-shop,display-16x9,display-21x9"
DELIVERED_TARGET = 0.85  # issue 19: share of the four-channel outputs delivered
STAGES = (
    "decode",
    "segment",
    "refine",
    "cutout-misc",
    "place",
    "extend",
    "upscale",
    "resize",
    "render-misc",
    "encode",
    "write",
)


def pin_cores(cores: int) -> str:
    """Limit this process (and children) to ``cores`` CPUs where the OS allows; say how."""
    os.environ.setdefault("PACKSHOT_THREADS", str(cores))
    if not hasattr(os, "sched_getaffinity"):
        return f"{cores} threads (no CPU affinity on this OS)"
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) > cores:
        os.sched_setaffinity(0, allowed[:cores])
        return f"pinned to CPUs {allowed[:cores]} of {len(allowed)}, {cores} threads"
    return f"{len(allowed)} CPUs available, {cores} threads"


def read_manifest(data: Path) -> list[Path]:
    with open(data / "MANIFEST.tsv", newline="") as fh:
        return [data / row["image"] for row in csv.DictReader(fh, delimiter="\t")]


def rss_peak_mb() -> float:
    """Peak RSS of this process so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def children_peak_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (all its threads) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def sys_seconds() -> float:
    """System CPU seconds of this process so far (page faults on fresh buffers show here)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


def _status_kb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of this process; False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return _status_kb("VmHWM") is not None


def window_peak_mb() -> float | None:
    kb = _status_kb("VmHWM")
    return None if kb is None else kb / 1024


class StageClock:
    """Seconds per stage for one source; wrappers add to it while installed."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(STAGES, 0.0)

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] += seconds

    def wrap(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(stage, time.perf_counter() - t0)

        return timed


@contextlib.contextmanager
def instrumented(clock: StageClock) -> Iterator[None]:
    """Time the ops render_target calls, by wrapping their names in the listing module.

    ``upscale`` is timed inside ``resize_to``; its time is moved out of ``resize`` after.
    """
    from packshot.pipeline import listing, reframe

    names = {
        (listing, "place_on_canvas"): "place",
        (reframe, "extend_to_aspect"): "extend",
        (listing, "resize_to"): "resize",
        (listing, "upscale"): "upscale",
    }
    saved = {key: getattr(*key) for key in names}
    try:
        for (module, name), stage in names.items():
            setattr(module, name, clock.wrap(stage, saved[module, name]))
        yield
    finally:
        for (module, name), fn in saved.items():
            setattr(module, name, fn)


def fan_out(path: Path, presets: list[Any], model: str, out: Path) -> dict[str, Any]:
    """One source through every target, as process_source runs it, timed by stage."""
    from packshot.imageio import write_bytes
    from packshot.pipeline.cutout import cutout
    from packshot.pipeline.listing import encode_for, output_path, render_target
    from packshot.pipeline.sources import Source, load_source, safe_sku

    clock = StageClock()
    source = Source(safe_sku(path.stem), str(path))
    t_start = time.perf_counter()
    cpu_start, sys_start = cpu_seconds(), sys_seconds()
    t0 = time.perf_counter()
    loaded = load_source(source)
    clock.add("decode", time.perf_counter() - t0)
    rgb = loaded.pixels[..., :3]
    t0 = time.perf_counter()
    cut = cutout(loaded.pixels, model=model)
    wall = time.perf_counter() - t0
    clock.add("segment", cut.timings["model_s"])
    clock.add("refine", cut.timings["refine_s"])
    clock.add("cutout-misc", max(0.0, wall - cut.timings["model_s"] - cut.timings["refine_s"]))
    targets: dict[str, dict[str, Any]] = {}
    for preset in presets:
        before = dict(clock.seconds)
        t_target = t0 = time.perf_counter()
        with instrumented(clock):
            rendered = render_target(rgb, cut, preset)
        render_wall = time.perf_counter() - t0
        t0 = time.perf_counter()
        data, quality = encode_for(rendered.pixels, preset)
        clock.add("encode", time.perf_counter() - t0)
        t0 = time.perf_counter()
        write_bytes(output_path(out, source.sku, preset), data)
        clock.add("write", time.perf_counter() - t0)
        spent = {k: clock.seconds[k] - before[k] for k in STAGES}
        # resize_to's time includes the upscaler it calls.
        clock.seconds["resize"] -= spent["upscale"]
        spent["resize"] -= spent["upscale"]
        inner = spent["place"] + spent["extend"] + spent["resize"] + spent["upscale"]
        clock.add("render-misc", max(0.0, render_wall - inner))
        targets[preset.name] = {
            **rendered.info,
            "size": f"{rendered.pixels.shape[1]}x{rendered.pixels.shape[0]}",
            "quality": quality,
            "bytes": len(data),
            "seconds": round(time.perf_counter() - t_target, 4),
        }
    total = time.perf_counter() - t_start
    return {
        "id": path.stem,
        "source_size": f"{rgb.shape[1]}x{rgb.shape[0]}",
        "stages": clock.seconds,
        "total_s": total,
        "cpu_s": cpu_seconds() - cpu_start,
        "sys_s": sys_seconds() - sys_start,
        "targets": targets,
    }


def stage_table(items: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    totals = [i["total_s"] for i in items]
    mean_total = statistics.fmean(totals)
    table = {}
    for stage in STAGES:
        values = [i["stages"][stage] for i in items]
        table[stage] = {
            "median_s": statistics.median(values),
            "mean_s": statistics.fmean(values),
            "max_s": max(values),
            "share_of_mean": statistics.fmean(values) / mean_total if mean_total else 0.0,
        }
    table["TOTAL"] = {
        "median_s": statistics.median(totals),
        "mean_s": mean_total,
        "max_s": max(totals),
        "share_of_mean": 1.0,
    }
    return table


def run_batch(
    paths: list[Path], count: int, presets: list[Any], model: str, workers_list: list[int]
) -> dict[str, dict[str, float]]:
    from packshot.pipeline.listing import run_listing

    inputs = [paths[i % len(paths)] for i in range(count)]
    results = {}
    for workers in workers_list:
        with tempfile.TemporaryDirectory(prefix=f"packshot-bench-listing-w{workers}-") as out:
            t0 = time.perf_counter()
            records = run_listing(inputs, presets, out, model=model, workers=workers)
            wall = time.perf_counter() - t0
        failed = sum(r.state != "done" for r in records)
        results[f"workers={workers}"] = {
            "workers": workers,
            "sources": count,
            "outputs": len(records),
            "failed": failed,
            "wall_s": wall,
            "images_per_s": count / wall,
            "s_per_source": wall / count,
        }
        print(
            f"  run_listing workers={workers}: {count} sources, {len(records)} outputs "
            f"({failed} failed) in {wall:.1f} s = {count / wall:.3f} images/s "
            f"({wall / count:.2f} s/source)"
        )
        sys.stdout.flush()
    return results


def channels(
    paths: list[Path], presets: list[Any], model: str, out: Path, sheet: Path | None
) -> dict[str, Any]:
    """The four-channel fan-out of each photo through :func:`process_source`."""
    from PIL import Image

    from packshot.pipeline.listing import process_source
    from packshot.pipeline.sources import Source

    counts = {"done": 0, "held": 0, "failed": 0}
    rows = []
    tiles: list[Image.Image] = []
    for path in paths:
        for rec in process_source(Source(path.stem, str(path)), presets, out, model):
            counts[rec.state] = counts.get(rec.state, 0) + 1
            checks = {c["name"]: c for c in rec.info.get("gate", {}).get("checks", [])}
            seam = checks.get("visible_seams", {}).get("value")
            plan = rec.info.get("plan", rec.info.get("method", "-"))
            why = "" if rec.state == "done" else f"  {rec.error}"
            seam_s = f"{seam:5.1f}" if isinstance(seam, float) else "    -"
            print(f"    {path.stem:20s} {rec.target:13s} {rec.state:6s} seam {seam_s}  {plan}{why}")
            rows.append({"photo": path.stem, "target": rec.target, "state": rec.state,
                         "plan": plan, "seam": seam, "error": rec.error})  # fmt: skip
            if sheet is not None and rec.output:
                im = Image.open(rec.output).convert("RGB")
                im.thumbnail((360, 360))
                tiles.append(im)
    total = sum(counts.values())
    share = counts["done"] / max(total, 1)
    verdict = "meets" if share >= DELIVERED_TARGET and not counts["failed"] else "misses"
    print(
        f"\n{total} outputs ({len(paths)} photos x {len(presets)} channels): "
        f"{counts['done']} delivered ({share:.0%}), {counts['held']} held, "
        f"{counts['failed']} failed; target >= {DELIVERED_TARGET:.0%} delivered and none "
        f"failed: {verdict}"
    )
    if sheet is not None and tiles:
        cols = len(presets)
        canvas = Image.new("RGB", (cols * 370, -(-len(tiles) // cols) * 370), "white")
        for i, im in enumerate(tiles):
            canvas.paste(im, ((i % cols) * 370, (i // cols) * 370))
        canvas.save(sheet)
        print(f"contact sheet: {sheet}")
    return {"counts": counts, "delivered_share": share, "rows": rows}


def rembg_peer() -> Callable[[Path], float] | None:
    """Seconds of one rembg 2.0.86 ``u2net`` cutout (same u2net.onnx) of a photo."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from cutout import rembg_runner  # benchmarks/cutout.py: the one way rembg is run
    from packshot.imageio import load_image

    run_rembg = rembg_runner()
    if run_rembg is None:
        return None

    def run(path: Path) -> float:
        rgb = load_image(path, keep_alpha=False).pixels
        t0 = time.perf_counter()
        run_rembg(rgb)
        return time.perf_counter() - t0

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default_data = Path(os.environ.get("PACKSHOT_EVAL_DIR", DEFAULT_DATA))
    parser.add_argument("--data", type=Path, default=default_data, help="dev photos folder")
    parser.add_argument("--samples", action="store_true", help="also the sample photos")
    parser.add_argument("--no-dev", action="store_true", help="skip the dev photos")
    parser.add_argument("--market", default=DEFAULT_MARKETS, help="comma-separated presets")
    parser.add_argument("--model", default=None, help="salient model ensemble (default u2net)")
    parser.add_argument("--cores", type=int, default=2, help="threads / CPUs (default 2)")
    parser.add_argument("--limit", type=int, help="only the first N photos")
    parser.add_argument("--per-image", action="store_true")
    parser.add_argument("--batch", type=int, metavar="N", help="also time run_listing over N")
    parser.add_argument("--no-stages", action="store_true", help="only the --batch timing")
    parser.add_argument("--out", type=Path, help="keep the outputs here (default: temporary)")
    parser.add_argument("--json", type=Path, help="write all figures as JSON")
    parser.add_argument("--channels", action="store_true", help="the four-channel smart resize")
    parser.add_argument("--sheet", type=Path, help="--channels: save a contact sheet here")
    parser.add_argument(
        "--rembg", action="store_true", help="time one rembg cutout per source beside it"
    )
    args = parser.parse_args()

    pinned = pin_cores(args.cores)  # before any session or thread pool exists
    from packshot.memory import tune_allocator

    tuned = tune_allocator()  # as the CLI and every batch worker do
    import cv2

    from packshot.models.salient import DEFAULT_ENSEMBLE
    from packshot.models.upscale import MODELS, upscaler
    from packshot.pipeline.cutout import prepare_models
    from packshot.presets import parse_preset_names
    from packshot.samples import fetch_samples

    cv2.setNumThreads(args.cores)
    model = args.model or DEFAULT_ENSEMBLE
    presets = parse_preset_names(args.market)
    tmp = tempfile.TemporaryDirectory(prefix="packshot-bench-listing-")
    paths: list[Path] = []
    if not args.no_dev:
        paths += read_manifest(args.data)
    if args.samples:
        paths += fetch_samples(Path(tmp.name) / "samples")
    if args.channels:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from reframe_data import lifestyle_photos

        paths = lifestyle_photos(Path(tmp.name) / "lifestyle")
        if args.market == DEFAULT_MARKETS:
            presets = parse_preset_names(CHANNELS)
    if args.limit:
        paths = paths[: args.limit]
    if not paths:
        parser.error("no photos: drop --no-dev or add --samples")

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    names = ", ".join(f"{p.name} {p.width}x{p.height} {p.format}" for p in presets)
    print(f"{len(paths)} photos; targets {names}")
    print(
        f"model {model}; {pinned}; allocator tuned: {tuned}; load average before: "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    report: dict[str, Any] = {
        "photos": len(paths),
        "targets": [p.name for p in presets],
        "model": model,
        "cores": args.cores,
        "pinning": pinned,
        "loadavg_before": load,
        "target_s": TARGET_S,
    }

    if args.channels:
        out = args.out or Path(tmp.name) / "out"
        report["channels"] = channels(paths, presets, model, out, args.sheet)
    elif not args.no_stages:
        t0 = time.perf_counter()
        prepare_models(model)
        for name in MODELS.values():
            upscaler(name)
        with contextlib.suppress(ImportError):
            from patchmatch import patch_match  # noqa: F401  (loads its native library)
        startup = time.perf_counter() - t0
        out = args.out or Path(tmp.name) / "out"
        t0 = time.perf_counter()
        fan_out(paths[0], presets, model, out)  # warm-up: first-call costs, untimed
        warm = time.perf_counter() - t0
        baseline = rss_peak_mb()
        print(
            f"startup (sessions + FSRCNN nets) {startup:.2f} s; warm-up source {warm:.2f} s; "
            f"peak RSS after warm-up {baseline:.0f} MB"
        )
        peer = rembg_peer() if args.rembg else None
        items = []
        for path in paths:
            has_window = reset_peak()
            item = fan_out(path, presets, model, out)
            item["peak_rss_mb"] = window_peak_mb() if has_window else None
            if peer is not None:
                # Right after the fan-out of the same photo: the load falls on both alike.
                item["rembg_s"] = peer(path)
                item["x_rembg"] = item["total_s"] / item["rembg_s"]
            items.append(item)
            if args.per_image:
                t = item["targets"]
                methods = " ".join(
                    f"{n}:{v.get('method')}/{v.get('resize', '-')}" for n, v in t.items()
                )
                s = item["stages"]
                print(
                    f"    {item['id']:24s} {item['source_size']:>10s} {item['total_s']:6.2f} s "
                    f"cpu {item['cpu_s']:5.2f} (seg {s['segment']:.2f} ext {s['extend']:.2f} "
                    f"up {s['upscale']:.2f} "
                    f"enc {s['encode']:.2f}) peak {item['peak_rss_mb'] or 0:.0f} MB  {methods}"
                )
                sys.stdout.flush()
        table = stage_table(items)
        print(f"\nper source, {len(items)} photos, {len(presets)} targets each:")
        print(f"{'stage':12s} {'median s':>9s} {'mean s':>8s} {'max s':>7s} {'share':>6s}")
        for stage, f in table.items():
            print(
                f"{stage:12s} {f['median_s']:9.3f} {f['mean_s']:8.3f} {f['max_s']:7.3f} "
                f"{f['share_of_mean']:6.1%}"
            )
        per_target: dict[str, list[float]] = {}
        for item in items:
            for name, t in item["targets"].items():
                per_target.setdefault(name, []).append(t["seconds"])
        print(
            "per target (render + encode + write), median s: "
            + ", ".join(f"{n} {statistics.median(v):.3f}" for n, v in per_target.items())
        )
        median_total = table["TOTAL"]["median_s"]
        busy = statistics.fmean(i["cpu_s"] for i in items) / table["TOTAL"]["mean_s"]
        sys_share = sum(i["sys_s"] for i in items) / max(1e-9, sum(i["cpu_s"] for i in items))
        print(
            f"CPU seconds per wall second while timing: {busy:.2f} of {args.cores} "
            "(well below the cores: single-threaded stages, or other processes' load); "
            f"system time {sys_share:.0%} of CPU (page faults on freshly mapped buffers)"
        )
        if peer is not None:
            ratio = statistics.median(i["x_rembg"] for i in items)
            print(
                f"fan-out / one rembg 2.0.86 u2net cutout of the same photo, median of "
                f"{len(items)} sources: {ratio:.2f}x (rembg median "
                f"{statistics.median(i['rembg_s'] for i in items):.2f} s)"
            )
            report["fan_out_x_rembg"] = ratio
        verdict = "meets" if median_total < TARGET_S else "misses"
        print(
            f"\nend-to-end median {median_total:.2f} s per source for the "
            f"{'+'.join(p.name for p in presets)} fan-out on {args.cores} cores; "
            f"target < {TARGET_S:.0f} s: {verdict} "
            f"({sum(i['total_s'] < TARGET_S for i in items)}/{len(items)} sources under)"
        )
        windows = [i["peak_rss_mb"] for i in items if i["peak_rss_mb"] is not None]
        # Resetting VmHWM resets ru_maxrss too: the process peak is the largest window.
        peak = max([baseline, rss_peak_mb(), *windows])
        print(
            f"peak memory: process peak RSS (getrusage ru_maxrss, models + native buffers) "
            f"{peak:.0f} MB"
            + (
                f"; per-source peak RSS (VmHWM, reset per source) median "
                f"{statistics.median(windows):.0f} MB, max {max(windows):.0f} MB"
                if windows
                else ""
            )
        )
        report["stages"] = {
            "startup_s": startup,
            "warmup_s": warm,
            "table": table,
            "median_total_s": median_total,
            "cpu_per_wall": busy,
            "sys_share_of_cpu": sys_share,
            "meets_target": median_total < TARGET_S,
            "peak_rss_mb": peak,
            "rss_after_warmup_mb": baseline,
            "items": items,
        }
        sys.stdout.flush()

    if args.batch:
        print(f"\nbatch: run_listing over {args.batch} sources (fresh output folders)")
        report["batch"] = run_batch(paths, args.batch, presets, model, [1, 2])
        report["batch_children_peak_rss_mb"] = children_peak_mb()
        print(f"  largest worker peak RSS (RUSAGE_CHILDREN ru_maxrss): {children_peak_mb():.0f} MB")

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    report["loadavg_after"] = load
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
