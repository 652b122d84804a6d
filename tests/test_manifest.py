"""The batch manifest: records survive reopening; done means done and the file is there."""

from __future__ import annotations

from pathlib import Path

from packshot.pipeline.manifest import Manifest, TargetRecord


def test_done_requires_the_file_with_its_recorded_size(tmp_path: Path) -> None:
    out = tmp_path / "a" / "amazon-main.jpg"
    out.parent.mkdir()
    out.write_bytes(b"12345")
    m = Manifest(tmp_path)
    m.record(TargetRecord("a", "amazon-main", "src.jpg", "done", str(out), 5, None, {"fill": 0.9}))
    m.record(TargetRecord("b", "amazon-main", "b.jpg", "failed", None, None, "b.jpg: bad", {}))
    m.close()

    again = Manifest(tmp_path)
    assert again.is_done("a", "amazon-main")
    assert not again.is_done("b", "amazon-main")
    assert [r.info for r in again.records() if r.ok] == [{"fill": 0.9}]
    out.write_bytes(b"123")  # truncated or replaced since: not done any more
    assert not again.is_done("a", "amazon-main")
    out.unlink()
    assert not again.is_done("a", "amazon-main")
