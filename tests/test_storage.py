"""Shared storage: paths and fsspec URLs (tested through fsspec's real ``file://`` protocol).

A batch whose sources and output folder are storage URLs must write the same bytes as one
on plain paths, keep its manifest locally in its state folder, and resume from it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import TEST_MODEL, ProductPhoto
from packshot.errors import InputError
from packshot.pipeline import storage
from packshot.pipeline.listing import run_listing
from packshot.pipeline.manifest import MANIFEST_NAME, TargetRecord
from packshot.pipeline.sources import Source
from packshot.presets import parse_preset_names

pytest.importorskip("fsspec")


def test_remote_means_a_storage_scheme_not_http() -> None:
    assert storage.is_remote("s3://bucket/a.jpg") and storage.is_remote("file:///tmp/a.jpg")
    assert not storage.is_remote("https://shop.example/a.jpg")
    assert not storage.is_remote("/data/a.jpg") and not storage.is_remote("C:/a.jpg")
    assert storage.join("s3://bucket/out/", "sku", "ebay.jpg") == "s3://bucket/out/sku/ebay.jpg"
    assert storage.join("/data/out", "sku", "ebay.jpg") == "/data/out/sku/ebay.jpg"


def test_state_dir_is_the_folder_or_a_stable_local_one_per_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(storage.STATE_DIR_ENV, str(tmp_path))
    assert storage.state_dir("/data/out") == Path("/data/out")
    one = storage.state_dir("s3://bucket/listing")
    assert one.parent == tmp_path and one.name.startswith("bucket-listing-")
    assert storage.state_dir("s3://bucket/listing/") == one
    assert storage.state_dir("s3://bucket/other") != one


def test_file_urls_round_trip(tmp_path: Path) -> None:
    url = (tmp_path / "deep" / "a.bin").as_uri()
    assert storage.size(url) is None
    storage.write_bytes(url, b"packshot")
    assert storage.read_bytes(url) == b"packshot" and storage.size(url) == 8
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["a.bin"]  # no temp left


def test_missing_and_unknown_locations_are_named(tmp_path: Path) -> None:
    missing = (tmp_path / "nope.jpg").as_uri()
    with pytest.raises(InputError, match=r"nope\.jpg: no such file"):
        storage.read_bytes(missing)
    with pytest.raises(InputError, match=r"^nope://x/a\.jpg: .*nope"):
        storage.read_bytes("nope://x/a.jpg")


@pytest.mark.usefixtures("real_models")
def test_batch_on_file_urls_matches_plain_paths_and_resumes(
    tmp_path: Path, product_photo: ProductPhoto, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(storage.STATE_DIR_ENV, str(tmp_path / "state"))
    src = product_photo.save_jpeg(tmp_path / "bottle.jpg")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not a jpeg")
    presets = parse_preset_names("ebay,instagram-feed")

    plain = run_listing([src], presets, tmp_path / "plain", model=TEST_MODEL, workers=1)
    out_url = (tmp_path / "remote").as_uri()
    inputs = [src.as_uri(), broken.as_uri(), (tmp_path / "gone.jpg").as_uri()]
    records = run_listing(inputs, presets, out_url, model=TEST_MODEL, workers=1)

    by_key = {(r.sku, r.target): r for r in records}
    for rec in plain:
        got = by_key[(rec.sku, rec.target)]
        assert got.ok and got.source == src.as_uri()
        assert got.output == f"{out_url}/bottle/{rec.target}.jpg"
        assert storage.read_bytes(got.output) == Path(rec.output or "").read_bytes()
    # Failures name the URL the user gave, not the worker's temporary copy.
    assert by_key[("broken", "ebay")].error is not None
    assert by_key[("broken", "ebay")].error.startswith(broken.as_uri())
    assert "gone.jpg: no such file" in (by_key[("gone", "ebay")].error or "")
    # The manifest lives in the local state folder; nothing but outputs went to the URL.
    assert (storage.state_dir(out_url) / MANIFEST_NAME).is_file()
    assert sorted(p.name for p in (tmp_path / "remote").iterdir()) == ["bottle"]

    seen: list[tuple[Source, list[TargetRecord]]] = []
    run_listing(
        inputs,
        presets,
        out_url,
        model=TEST_MODEL,
        workers=1,
        on_source=lambda s, r: seen.append((s, r)),
    )
    redone = {s.sku for s, recs in seen if recs}
    assert redone == {"broken", "gone"}  # failed items retried, finished ones skipped
