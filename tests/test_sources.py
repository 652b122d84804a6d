"""Batch sources: files, folders, CSV/JSON manifests, URLs; SKUs safe and unique."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from packshot.errors import InputError
from packshot.pipeline.sources import Source, read_sources, safe_sku


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_files_and_folders_become_skus_by_stem(tmp_path: Path) -> None:
    a = _touch(tmp_path / "shop" / "mug.jpg")
    b = _touch(tmp_path / "shop" / "sub" / "mug.png")
    c = _touch(tmp_path / "bag.webp")
    sources = read_sources([tmp_path / "shop", c])
    assert [(s.sku, Path(s.location)) for s in sources] == [
        ("mug", a),
        ("mug-2", b),
        ("bag", c),
    ]


def test_csv_manifest_with_relative_paths_and_urls(tmp_path: Path) -> None:
    img = _touch(tmp_path / "imgs" / "p1.jpg")
    manifest = tmp_path / "catalog.csv"
    manifest.write_text(
        "sku,image\nSKU 001,imgs/p1.jpg\nSKU-2,https://example.com/a/b/shoe.jpg?x=1\n"
    )
    sources = read_sources([manifest])
    assert sources == [
        Source("SKU-001", str(img.resolve())),
        Source("SKU-2", "https://example.com/a/b/shoe.jpg?x=1"),
    ]
    assert sources[1].is_url and not sources[0].is_url


def test_json_manifest_and_missing_image_message(tmp_path: Path) -> None:
    good = tmp_path / "m.json"
    good.write_text(json.dumps([{"sku": "a", "image_url": "https://h/x.png"}]))
    assert read_sources([good]) == [Source("a", "https://h/x.png")]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"sku": "a"}]))
    with pytest.raises(InputError, match=r"bad\.json: row 1: no image given"):
        read_sources([bad])
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    with pytest.raises(InputError, match=r"broken\.json: not valid JSON"):
        read_sources([broken])


@pytest.mark.parametrize(
    ("raw", "safe"),
    [("../../etc/passwd", "etc-passwd"), ("a/b\\c", "a-b-c"), ("  ", "item"), ("ok_1.2", "ok_1.2")],
)
def test_skus_cannot_escape_the_output_folder(raw: str, safe: str) -> None:
    assert safe_sku(raw) == safe
