"""The Operations API on a real server (uvicorn on loopback) with real photos and models."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from packshot.models import registry
from packshot.service.storage import safe_name
from servicekit import (
    decode,
    file_server,
    new_key,
    photo_bytes,
    running_server,
    settings_for,
    wait_job,
)


@dataclass
class Service:
    base: str
    key: str
    data_dir: Path

    def client(self, key: str | None = None, timeout: float = 120) -> httpx.Client:
        token = self.key if key is None else key
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=timeout)


@pytest.fixture(scope="module")
def service(model_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    data = tmp_path_factory.mktemp("service")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(registry.MODELS_DIR_ENV, str(model_cache))
        settings = settings_for(
            data, max_request_bytes=3_000_000, rate_per_minute=1000, max_pixels=4_000_000
        )
        key = new_key(settings)
        with running_server(settings) as base:
            yield Service(base, key, data)


@pytest.fixture(scope="module")
def photo() -> bytes:
    return photo_bytes("product")


def test_background_removal_multipart_returns_rgba_png(service: Service, photo: bytes) -> None:
    with service.client() as c:
        r = c.post("/v1/run/background-removal", files={"image_file": ("p.jpg", photo)})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    im = decode(r.content)
    source = decode(photo)
    assert im.mode == "RGBA" and im.size == source.size
    alpha = np.asarray(im)[..., 3]
    # A real cutout: some product kept, some background removed.
    assert 0.05 < (alpha > 128).mean() < 0.95
    assert r.headers["x-packshot-model"] == "u2netp"


def test_background_color_fix_base64_exact_colour(service: Service, photo: bytes) -> None:
    body = {"image_base64": base64.b64encode(photo).decode(), "color": "#ff8800", "format": "png"}
    with service.client() as c:
        r = c.post("/v1/run/background-color-fix", json=body)
    assert r.status_code == 200, r.text
    px = np.asarray(decode(r.content).convert("RGB"))
    # Corners are background: exactly the requested colour.
    for y, x in ((0, 0), (0, -1), (-1, 0), (-1, -1)):
        assert tuple(px[y, x]) == (255, 136, 0)


def test_background_color_fix_for_a_market(service: Service, photo: bytes) -> None:
    body = {"image_base64": base64.b64encode(photo).decode(), "market": "amazon-main"}
    with service.client() as c:
        r = c.post("/v1/run/background-color-fix", json=body)
    assert r.status_code == 200, r.text
    im = decode(r.content)
    assert im.format == "JPEG" and im.size == (2000, 2000)
    assert tuple(np.asarray(im)[5, 5]) == (255, 255, 255)


def test_smart_resize_from_a_url_with_json_link(service: Service, photo: bytes) -> None:
    with file_server({"p.jpg": photo}) as files, service.client() as c:
        body = {
            "image_url": f"{files}/p.jpg",
            "aspect_ratio": "16:9",
            "resolution": "1K",
            "allow_crop": True,
            "response": "json",
        }
        r = c.post("/v1/run/smart-resize", json=body)
        assert r.status_code == 200, r.text
        job = r.json()
        assert job["state"] == "done"
        link = job["result"]["files"][0]["url"]
        got = httpx.get(link)
        assert got.status_code == 200
        assert decode(got.content).size == (1024, 576)
        # The signature covers the file: another name with the same signature is refused.
        forged = link.replace("resized-16x9-1K.jpg", "other.jpg")
        bad = httpx.get(forged)
        assert bad.status_code == 403
        assert bad.json()["error"]["code"] == "link_expired"


def test_listing_is_asynchronous(service: Service, photo: bytes) -> None:
    body = {"image_base64": base64.b64encode(photo).decode(), "market": ["amazon-main", "shopify"]}
    with service.client() as c:
        r = c.post("/v1/run/listing", json=body)
        assert r.status_code == 202, r.text
        job = wait_job(c, r.json()["status_url"], timeout=240)
    assert job["state"] == "done", job
    names = sorted(f["name"] for f in job["result"]["files"])
    assert names == ["amazon-main.jpg", "shopify.jpg"]
    sizes = {f["name"]: decode(httpx.get(f["url"]).content).size for f in job["result"]["files"]}
    assert sizes == {"amazon-main.jpg": (2000, 2000), "shopify.jpg": (2048, 2048)}


def test_async_single_image_job(service: Service, photo: bytes) -> None:
    with service.client() as c:
        r = c.post(
            "/v1/run/background-removal",
            data={"async": "true"},
            files={"image_file": ("p.jpg", photo)},
        )
        assert r.status_code == 202
        job = wait_job(c, r.json()["status_url"])
    assert job["state"] == "done"
    assert decode(httpx.get(job["result"]["files"][0]["url"]).content).mode == "RGBA"


def test_unknown_solution(service: Service) -> None:
    with service.client() as c:
        r = c.post("/v1/run/make-it-pop", json={"image_url": "https://example.com/a.jpg"})
    assert r.status_code == 400
    assert "make-it-pop" in r.json()["error"]["message"]


# ------------------------------------------------------------------ security


def test_ssrf_loopback_url_is_refused_without_the_switch(
    model_cache: Path, tmp_path: Path, photo: bytes
) -> None:
    settings = settings_for(tmp_path, allow_private_urls=False)
    key = new_key(settings)
    with file_server({"p.jpg": photo}) as files, running_server(settings) as base:
        headers = {"Authorization": f"Bearer {key}"}
        for url in (f"{files}/p.jpg", "http://169.254.169.254/latest/meta-data/"):
            r = httpx.post(
                f"{base}/v1/run/background-removal", json={"image_url": url}, headers=headers
            )
            assert r.status_code == 400, r.text
            error = r.json()["error"]
            assert error["code"] == "url_not_allowed"
            assert "refused" in error["message"]
        r = httpx.post(
            f"{base}/v1/run/background-removal",
            json={"image_url": "file:///etc/passwd"},
            headers=headers,
        )
        assert r.status_code == 400
        assert "Only http and https" in r.json()["error"]["message"]
        # Webhooks to internal addresses are refused at submit, before any work is done.
        r = httpx.post(
            f"{base}/v1/run/background-removal",
            data={"callback_url": f"{files}/hook"},
            files={"image_file": ("p.jpg", photo)},
            headers=headers,
            timeout=120,
        )
        assert r.status_code == 400
        error = r.json()["error"]
        assert error["code"] == "url_not_allowed"
        assert error["message"].startswith("callback_url: ") and "refused" in error["message"]


def test_oversize_request_is_refused(service: Service) -> None:
    big = b"\xff" * 3_500_000
    with service.client() as c:
        r = c.post("/v1/run/background-removal", files={"image_file": ("big.jpg", big)})
    assert r.status_code == 413
    error = r.json()["error"]
    assert error["code"] == "request_too_large"
    assert "3000000 bytes" in error["message"]
    # A chunked body declares no length: it is counted as it arrives.
    chunks = iter([b'{"image_base64": "' + b"A" * 1_000_000] * 4)
    with service.client() as c:
        r = c.post(
            "/v1/run/background-removal",
            content=chunks,
            headers={"Content-Type": "application/json"},
        )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "request_too_large"


def test_too_many_pixels_is_refused(service: Service) -> None:
    from io import BytesIO

    from PIL import Image

    buf = BytesIO()
    Image.new("RGB", (2500, 2000), (200, 200, 200)).save(buf, "PNG")
    with service.client() as c:
        r = c.post("/v1/run/background-removal", files={"image_file": ("wide.png", buf.getvalue())})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "image_too_large"


def test_corrupt_image_is_named(service: Service, photo: bytes) -> None:
    with service.client() as c:
        r = c.post(
            "/v1/run/background-removal",
            files={"image_file": ("cut.jpg", photo[: len(photo) // 3])},
        )
        assert r.status_code == 422
        error = r.json()["error"]
        assert error["code"] == "image_unreadable"
        assert error["message"].startswith("image:")
        r = c.post("/v1/run/background-removal", json={"image_base64": "not base64!"})
        assert r.status_code == 400
        assert r.json()["error"]["message"] == "image_base64: not valid base64."


def test_bad_and_missing_keys(service: Service, photo: bytes) -> None:
    with service.client(key="psk_wrong") as c:
        r = c.post("/v1/run/background-removal", files={"image_file": ("p.jpg", photo)})
    assert r.status_code == 401
    assert r.json()["error"] == {"code": "unauthorized", "message": "The API key is not valid."}
    with service.client(key="") as c:
        r = c.get("/v1/jobs/job_x")
    assert r.status_code == 401
    assert "API key is required" in r.json()["error"]["message"]


def test_bad_field_names_the_field(service: Service, photo: bytes) -> None:
    body = {"image_base64": base64.b64encode(photo).decode(), "aspect_ratio": "5:4"}
    with service.client() as c:
        r = c.post("/v1/run/smart-resize", json=body)
        assert r.status_code == 400
        assert r.json()["error"]["message"].startswith("aspect_ratio: '5:4' is not one of")
        r = c.post("/v1/run/background-color-fix", json={**body, "color": "bluish"})
        assert r.status_code == 400
        assert r.json()["error"]["message"].startswith("color: 'bluish' is not a colour")


def test_no_path_traversal_in_file_links(service: Service) -> None:
    for path in (
        "/v1/files/results/..%2F..%2Fsecret/x?expires=9999999999&sig=0",
        "/v1/files/results/job_x/..%2Fsecret?expires=9999999999&sig=0",
        "/v1/files/inputs/job_x/.secret?expires=9999999999&sig=0",
    ):
        r = httpx.get(service.base + path)
        assert r.status_code in (400, 403, 404), (path, r.status_code)
        assert "error" in r.json()
    for name in ("../secret", "a/b", ".hidden", "x..y", ""):
        with pytest.raises(Exception, match="not allowed"):
            safe_name(name)


def test_rate_limit(model_cache: Path, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, rate_per_minute=3)
    key = new_key(settings)
    with running_server(settings) as base:
        headers = {"Authorization": f"Bearer {key}"}
        codes = [httpx.get(f"{base}/v1/jobs/job_none", headers=headers) for _ in range(4)]
    assert [r.status_code for r in codes] == [404, 404, 404, 429]
    assert codes[-1].json()["error"]["code"] == "rate_limited"
    assert int(codes[-1].headers["retry-after"]) >= 1


def test_keys_cli_create_list_revoke(tmp_path: Path) -> None:
    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "packshot.cli", "keys", *args, "--data-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    key = cli("create", "shop-a").strip().splitlines()[-1]
    assert key.startswith("psk_") and " " not in key
    listed = cli("list")
    assert "shop-a" in listed and "active" in listed and key not in listed
    # Only the hash is stored.
    assert key.encode() not in (tmp_path / "packshot.sqlite").read_bytes()
    settings = settings_for(tmp_path)
    with running_server(settings) as base:
        headers = {"Authorization": f"Bearer {key}"}
        assert httpx.get(f"{base}/v1/jobs/job_none", headers=headers).status_code == 404
        cli("revoke", "shop-a")
        r = httpx.get(f"{base}/v1/jobs/job_none", headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["message"] == "The API key has been revoked."
    assert "revoked" in cli("list")


def test_openapi_docs(service: Service) -> None:
    assert httpx.get(f"{service.base}/docs").status_code == 200
    schema = httpx.get(f"{service.base}/openapi.json").json()
    assert "/v1/run/{solution}" in schema["paths"]
    assert "/v1.0/removebg" in schema["paths"]
