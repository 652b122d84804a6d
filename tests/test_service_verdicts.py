"""Every HTTP solution that makes a marketplace image says the gate's verdict and checks,
and the HTTP listing carries the report ``packshot listing`` writes (a real server)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from packshot.cli import app
from servicekit import authorized_client, photo_bytes, wait_job

TEST_MODEL = "u2netp"


@pytest.fixture(scope="module")
def client(model_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with authorized_client(model_cache, tmp_path_factory.mktemp("verdicts")) as c:
        yield c


@pytest.fixture(scope="module")
def photo() -> bytes:
    return photo_bytes("product")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _gate_of_job(client: httpx.Client, job_id: str) -> dict[str, Any]:
    job = client.get(f"/v1/jobs/{job_id}").json()
    [entry] = job["result"]["files"]
    gate: dict[str, Any] = entry["gate"]
    return gate


@pytest.mark.parametrize(
    ("solution", "fields"),
    [
        ("background-color-fix", {"market": "amazon-main"}),
        ("smart-resize", {"aspect_ratio": "3:4", "resolution": "1K"}),
        ("recolor", {"color": "#1F3A5F"}),
    ],
)
def test_a_marketplace_image_says_its_verdict_beside_its_bytes(
    client: httpx.Client, photo: bytes, solution: str, fields: dict[str, Any]
) -> None:
    body = {"image_base64": _b64(photo), "model": TEST_MODEL, **fields}
    r = client.post(f"/v1/run/{solution}", json=body)
    if r.status_code == 202:  # held: the verdict and its checks are the JSON answer
        gate = r.json()["result"]["files"][0]["gate"]
        assert gate["verdict"] == "hold" and gate["checks"]
        return
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("image/")
    gate = _gate_of_job(client, r.headers["x-packshot-job"])
    assert r.headers["x-packshot-verdict"] == gate["verdict"] in ("deliver", "fixed")
    said = dict(c.split("=") for c in r.headers["x-packshot-checks"].split(", "))
    assert said == {c["name"]: "pass" if c["passed"] else "fail" for c in gate["checks"]}
    assert said  # the gate ran its checks


def test_a_cutout_has_no_verdict_to_give(client: httpx.Client, photo: bytes) -> None:
    r = client.post(
        "/v1/run/background-removal", json={"image_base64": _b64(photo), "model": TEST_MODEL}
    )
    assert r.status_code == 200, r.text
    assert "x-packshot-verdict" not in r.headers


def test_the_http_listing_carries_the_report_the_cli_writes(
    client: httpx.Client, photo: bytes, tmp_path: Path, real_models: Path
) -> None:
    markets = ["amazon-main", "etsy"]
    body = {"image_base64": _b64(photo), "model": TEST_MODEL, "market": markets, "sku": "BAG"}
    r = client.post("/v1/run/listing", json=body)
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["status_url"], timeout=300)
    assert job["state"] in ("done", "held"), job
    http = job["result"]["info"]["report"]

    (tmp_path / "BAG.jpg").write_bytes(photo)
    out = tmp_path / "out"
    args = ["-m", ",".join(markets), "-o", str(out), "--model", TEST_MODEL, "-j", "1", "-q"]
    cli = CliRunner().invoke(app, ["listing", str(tmp_path / "BAG.jpg"), *args])
    assert cli.exit_code == 0, cli.output
    written = json.loads((out / "report.json").read_text())

    assert set(http) == set(written)
    assert {k: http[k] for k in ("done", "held", "failed", "verdicts")} == {
        k: written[k] for k in ("done", "held", "failed", "verdicts")
    }
    assert set(http["compute"]) == set(written["compute"])

    def targets(report: dict[str, Any]) -> dict[str, tuple[str, str, set[str]]]:
        return {t["target"]: (t["state"], t["gate"]["verdict"], set(t)) for t in report["targets"]}

    assert targets(http) == targets(written)
    # What the server keeps where is not the client's business: file names, not paths.
    for t in http["targets"]:
        assert "/" not in str(t["output"]) and "/" not in str(t["source"])


def test_a_marketplace_image_over_http_is_the_listings_own(
    client: httpx.Client, photo: bytes, tmp_path: Path, real_models: Path
) -> None:
    # One pipeline: background-color-fix for a market, the HTTP listing and the CLI listing
    # make the same bytes from the same photo.
    body = {"image_base64": _b64(photo), "model": TEST_MODEL}
    fix = client.post("/v1/run/background-color-fix", json={**body, "market": "amazon-main"})
    assert fix.status_code in (200, 202), fix.text
    r = client.post("/v1/run/listing", json={**body, "market": ["amazon-main"], "sku": "BAG"})
    job = wait_job(client, r.json()["status_url"], timeout=300)
    [entry] = job["result"]["files"]
    over_http = client.get(entry["url"]).content

    (tmp_path / "BAG.jpg").write_bytes(photo)
    out = tmp_path / "out"
    args = ["-m", "amazon-main", "-o", str(out), "--model", TEST_MODEL, "-j", "1", "-q"]
    cli = CliRunner().invoke(app, ["listing", str(tmp_path / "BAG.jpg"), *args])
    assert cli.exit_code == 0, cli.output
    [target] = json.loads((out / "report.json").read_text())["targets"]
    written = Path(target["output"])
    assert over_http == (written if written.is_absolute() else out / written).read_bytes()
    if fix.status_code == 200:
        assert fix.content == over_http
