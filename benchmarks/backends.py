"""Batch back-ends: listing throughput on the local process pool vs Ray, and Ray's overhead.

    python benchmarks/backends.py [--items 16] [--market amazon-main] [--model u2net]
                                  [--overhead-items 10000] [--ray-address ADDR]
                                  [--json FILE]

Runs the same listing batch (the registry's sample photos, cycled to ``--items`` SKUs)
with :func:`packshot.pipeline.listing.run_listing` on:

``local-1``  one process, ``cores`` ONNX Runtime threads (what ``--workers 1`` does)
``local-2``  two worker processes, one thread each (the default on 2 cores)
``ray-1``    one Ray actor reserving 2 CPUs (2 threads)
``ray-2``    two Ray actors, one CPU (thread) each

Each batch writes into a fresh folder, so every item is computed. Per run it prints the
wall time, images/s over the whole batch (starting workers and loading their models
included, as a real batch pays it), the time to the first result (worker start + model
load + one image) and the steady images/s after each worker's first result. The Ray
cluster is started once (``ray.init`` with 2 CPUs on loopback, timed apart) unless
``--ray-address`` names a running one; outputs are compared byte for byte across runs.

Also printed: the seconds a new worker spends creating the model sessions (measured in
this fresh process), and the storage traffic per item (source read, outputs written).

Then the per-item cost of the machinery itself: a no-op function (``abs``) mapped over
``--overhead-items`` items by the local pool and by Ray (2 workers each; microseconds per
item), the driver's resident memory after 10% and 100% of those items (bounded in-flight
work keeps it flat), and the manifest's cost per recorded target (the driver's one
serial step, which bounds a single driver's throughput on any cluster).

The machine's load average is printed before and after: other processes sharing the
cores inflate every figure.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# A single-node cluster started here listens on loopback only.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def vm_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return float(line.split()[1]) / 1024
    return float("nan")


def write_catalog(folder: Path, photos: list[Path], items: int) -> Path:
    """A CSV manifest with ``items`` SKUs cycling through ``photos``."""
    catalog = folder / "catalog.csv"
    with catalog.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["sku", "image"])
        for i in range(items):
            writer.writerow([f"item{i:05d}", photos[i % len(photos)]])
    return catalog


def digest(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*.jpg"))
    }


def run_batch(
    label: str, catalog: Path, out: Path, presets: list[Any], model: str, backend: Any
) -> dict[str, Any]:
    from packshot.pipeline.listing import run_listing

    arrivals: list[float] = []
    t0 = time.perf_counter()
    records = run_listing(
        [catalog],
        presets,
        out,
        model=model,
        backend=backend,
        on_source=lambda _s, _r: arrivals.append(time.perf_counter() - t0),
    )
    wall = time.perf_counter() - t0
    workers = getattr(backend, "workers", None) or getattr(backend, "requested_workers", 1)
    n = len(arrivals)
    warm = min(workers, n - 1)
    steady = (n - 1 - warm) / (arrivals[-1] - arrivals[warm]) if n - 1 > warm else float("nan")
    row = {
        "run": label,
        "items": n,
        "done": sum(r.ok for r in records),
        "failed": sum(not r.ok for r in records),
        "wall_s": round(wall, 2),
        "images_per_s": round(n / wall, 3),
        "first_result_s": round(arrivals[0], 2),
        "steady_images_per_s": round(steady, 3),
    }
    print(
        f"{label:8} {n:5d} items  {wall:7.1f} s  {n / wall:6.3f} img/s  "
        f"first {arrivals[0]:5.1f} s  steady {steady:6.3f} img/s  "
        f"({row['done']} done, {row['failed']} failed)",
        flush=True,
    )
    return row


def overhead(label: str, backend: Any, count: int) -> dict[str, Any]:
    """Per-item cost of mapping a no-op, and the driver's memory along the way."""
    rss: dict[str, float] = {"start": vm_rss_mb()}
    t0 = time.perf_counter()
    for done, (_item, finished) in enumerate(backend.map(abs, range(count)), start=1):
        assert finished.ok, finished.error
        if done == count // 10:
            rss["10%"] = vm_rss_mb()
    wall = time.perf_counter() - t0
    rss["100%"] = vm_rss_mb()
    per_item_us = wall / count * 1e6
    print(
        f"{label:8} no-op x{count}: {per_item_us:7.0f} us/item  driver RSS "
        + ", ".join(f"{k} {v:.0f} MB" for k, v in rss.items()),
        flush=True,
    )
    return {"run": label, "items": count, "us_per_item": round(per_item_us, 1), "rss_mb": rss}


def manifest_cost(folder: Path, count: int = 2000) -> float:
    from packshot.pipeline.manifest import Manifest, TargetRecord

    manifest = Manifest(folder)
    try:
        t0 = time.perf_counter()
        for i in range(count):
            manifest.record(
                TargetRecord(f"sku{i}", "amazon-main", "/p.jpg", "done", "/o.jpg", 1, None, {})
            )
        return (time.perf_counter() - t0) / count * 1000
    finally:
        manifest.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=16, help="SKUs per batch (default 16)")
    parser.add_argument("--market", default="amazon-main", help="comma-separated presets")
    parser.add_argument("--model", default=None, help="cutout ensemble (default u2net)")
    parser.add_argument("--overhead-items", type=int, default=10_000)
    parser.add_argument("--ray-address", default=None, help="a running cluster to use")
    parser.add_argument("--skip", default="", help="runs to skip, e.g. local-1,ray-1")
    parser.add_argument("--json", type=Path, help="write all figures as JSON")
    args = parser.parse_args()

    import ray

    from packshot.models.salient import DEFAULT_ENSEMBLE
    from packshot.pipeline.backends import LocalBackend, RayBackend
    from packshot.pipeline.cutout import prepare_models
    from packshot.presets import parse_preset_names
    from packshot.samples import fetch_samples

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2
    model = args.model or DEFAULT_ENSEMBLE
    presets = parse_preset_names(args.market)
    load_before = os.getloadavg()
    print(f"{cores} CPUs, load average {load_before[0]:.2f} {load_before[1]:.2f} (1, 5 min)")
    print(f"model {model}, targets {args.market}, Ray {ray.__version__}", flush=True)
    t0 = time.perf_counter()
    prepare_models(model)  # what each new worker pays once: import + session creation
    load_s = time.perf_counter() - t0
    print(f"model sessions created in a fresh process: {load_s:.2f} s", flush=True)
    results: dict[str, Any] = {
        "cores": cores,
        "model": model,
        "market": args.market,
        "model_load_s": round(load_s, 2),
    }

    with tempfile.TemporaryDirectory(prefix="packshot-bench-backends-") as tmp:
        root = Path(tmp)
        photos = fetch_samples(root / "samples")
        catalog = write_catalog(root, photos, args.items)

        t0 = time.perf_counter()
        ray.init(
            address=args.ray_address or "local",
            num_cpus=None if args.ray_address else cores,
            include_dashboard=False,
            log_to_driver=False,
        )
        results["ray_init_s"] = round(time.perf_counter() - t0, 2)
        print(f"ray.init: {results['ray_init_s']} s", flush=True)
        runs = {
            "local-1": lambda: LocalBackend(1),
            "local-2": lambda: LocalBackend(2),
            "ray-1": lambda: RayBackend(workers=1, cpus_per_worker=cores),
            "ray-2": lambda: RayBackend(workers=2),
        }
        skip = {s for s in args.skip.split(",") if s}
        rows, digests = [], {}
        for label, make in runs.items():
            if label in skip:
                continue
            with make() as backend:
                rows.append(run_batch(label, catalog, root / label, presets, model, backend))
            digests[label] = digest(root / label)
        results["batches"] = rows
        first = next(iter(digests))
        read = sum(photos[i % len(photos)].stat().st_size for i in range(args.items))
        written = sum(p.stat().st_size for p in (root / first).rglob("*.jpg"))
        results["io_mb_per_item"] = {
            "read": read / args.items / 1e6,
            "written": written / args.items / 1e6,
        }
        print(
            f"storage traffic per item: {read / args.items / 1e6:.2f} MB read, "
            f"{written / args.items / 1e6:.2f} MB written"
        )
        same = len({json.dumps(d, sort_keys=True) for d in digests.values()}) == 1
        by_threads = {
            "1 thread per worker": [digests[k] for k in ("local-2", "ray-2") if k in digests],
            f"{cores} threads": [digests[k] for k in ("local-1", "ray-1") if k in digests],
        }
        for what, ds in by_threads.items():
            if len(ds) == 2:
                print(f"outputs byte-identical local vs ray ({what}): {ds[0] == ds[1]}")
        print(f"outputs byte-identical across all runs: {same}")

        results["overhead"] = [
            overhead("local-2", LocalBackend(2), args.overhead_items),
            overhead("ray-2", RayBackend(workers=2), args.overhead_items),
        ]
        ms = manifest_cost(root)
        results["manifest_ms_per_target"] = round(ms, 3)
        print(f"manifest: {ms:.2f} ms per recorded target (driver, serial)")
        ray.shutdown()

    load_after = os.getloadavg()
    results["load_average"] = {"before": load_before, "after": load_after}
    print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} (1, 5 min)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
