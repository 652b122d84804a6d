"""The remove.bg-compatible endpoint, driven by the published ``removebg`` client (PyPI).

The client posts to its module constant ``API_ENDPOINT``; pointing that at the local server
is the only change, exactly what a user switching services would do.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import remove_bg_api
import requests
from removebg import RemoveBg, removebg

from servicekit import decode, file_server, new_key, photo_bytes, running_server, settings_for


@pytest.fixture(scope="module")
def server(
    model_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    from packshot.models import registry

    data = tmp_path_factory.mktemp("removebg")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(registry.MODELS_DIR_ENV, str(model_cache))
        settings = settings_for(data)
        key = new_key(settings)
        with running_server(settings) as base:
            yield base, key


@pytest.fixture
def client(server: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> RemoveBg:
    base, key = server
    monkeypatch.setattr(removebg, "API_ENDPOINT", f"{base}/v1.0/removebg")
    return RemoveBg(key, "/dev/null")


def test_client_file_upload(
    client: RemoveBg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "shoe.jpg"
    src.write_bytes(photo_bytes("product"))
    client.remove_background_from_img_file(str(src), size="regular")
    out = decode((tmp_path / "shoe.jpg_no_bg.png").read_bytes())
    assert out.mode == "RGBA"
    # size=regular is remove.bg's 0.25 megapixel preview.
    assert out.size[0] * out.size[1] <= 250_000
    alpha = np.asarray(out)[..., 3]
    assert 0.05 < (alpha > 128).mean() < 0.95


def test_client_url_with_bg_color(
    client: RemoveBg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with file_server({"car.jpg": photo_bytes("car")}) as files:
        client.remove_background_from_img_url(
            f"{files}/car.jpg", size="full", new_file_name="car.png", bg_color="81d4fa"
        )
    out = decode((tmp_path / "car.png").read_bytes())
    # An opaque background colour comes back as JPEG (remove.bg's format=auto).
    assert out.format == "JPEG"
    corner = np.asarray(out.convert("RGB"))[0, 0].astype(int)
    assert np.abs(corner - [0x81, 0xD4, 0xFA]).max() <= 2


def test_client_base64(client: RemoveBg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    encoded = base64.b64encode(photo_bytes("animal")).decode()
    client.remove_background_from_base64_img(encoded, new_file_name="animal.png")
    assert decode((tmp_path / "animal.png").read_bytes()).mode == "RGBA"


def test_crop_scale_position_and_headers(server: tuple[str, str]) -> None:
    base, key = server
    photo = photo_bytes("product")
    r = httpx.post(
        f"{base}/v1.0/removebg",
        headers={"X-Api-Key": key},
        files={"image_file": ("p.jpg", photo)},
        data={"size": "full", "crop": "true", "crop_margin": "10px", "format": "png"},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    cropped = decode(r.content)
    fg_w, fg_h = int(r.headers["x-foreground-width"]), int(r.headers["x-foreground-height"])
    assert cropped.size == (fg_w + 20, fg_h + 20)
    assert (int(r.headers["x-foreground-left"]), int(r.headers["x-foreground-top"])) == (10, 10)
    r = httpx.post(
        f"{base}/v1.0/removebg",
        headers={"X-Api-Key": key, "Accept": "application/json"},
        data={
            "image_file_b64": base64.b64encode(photo).decode(),
            "scale": "50%",
            "position": "0% 0%",
        },
        timeout=60,
    )
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    out = decode(base64.b64decode(data["result_b64"]))
    assert out.size == decode(photo).size
    assert data["foreground_left"] == 0 and data["foreground_top"] == 0
    assert max(data["foreground_width"] / out.size[0], data["foreground_height"] / out.size[1]) == (
        pytest.approx(0.5, abs=0.02)
    )


def test_errors_in_removebg_shape(
    server: tuple[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    base, key = server
    monkeypatch.setattr(removebg, "API_ENDPOINT", f"{base}/v1.0/removebg")
    src = tmp_path / "p.jpg"
    src.write_bytes(photo_bytes("product"))
    with pytest.raises(requests.HTTPError) as info:
        RemoveBg("wrong-key", "/dev/null").remove_background_from_img_file(str(src))
    # remove.bg's status for a bad key (ours on /v1/* stays 401).
    assert info.value.response.status_code == 403
    assert info.value.response.json() == {
        "errors": [{"title": "The API key is not valid.", "code": "unauthorized"}]
    }
    r = httpx.post(
        f"{base}/v1.0/removebg",
        headers={"X-Api-Key": key},
        data={"size": "huge", "image_url": "https://example.com/a.jpg"},
    )
    assert r.status_code == 400
    assert r.json()["errors"][0]["title"].startswith("size: 'huge' is not one of")
    # An unreadable image is remove.bg's 400 (ours on /v1/* is 422).
    r = httpx.post(
        f"{base}/v1.0/removebg",
        headers={"X-Api-Key": key},
        files={"image_file": ("p.jpg", b"not an image")},
    )
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "image_unreadable"
    r = httpx.post(f"{base}/v1/run/background-removal", headers={"X-Api-Key": "nope"})
    assert r.status_code == 401


def test_remove_bg_api_client_account_and_removal(
    server: tuple[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``remove-bg-api`` reads GET /v1.0/account in its constructor, then subtracts
    X-Credits-Charged from the balance after each image."""
    base, key = server
    monkeypatch.setattr(remove_bg_api, "API_URL", f"{base}/v1.0")
    client = remove_bg_api.RemoveBg(key)
    credits = client.account.get_balance_dict()
    assert credits["unlimited"] is True and credits["total"] > 0
    assert client.account.free_api_calls() > 0
    src = tmp_path / "shoe.jpg"
    src.write_bytes(photo_bytes("product", 320))
    out = decode(client.remove_bg_file(str(src), size="regular", raw=True))
    assert out.mode == "RGBA"
    assert 0.05 < (np.asarray(out)[..., 3] > 128).mean() < 0.95
    assert client.account.balance() == credits["total"]  # nothing charged
    with pytest.raises(remove_bg_api.Errors.ApiErrorCode403):
        remove_bg_api.RemoveBg("wrong-key")


def test_options_are_checked_before_the_image(server: tuple[str, str]) -> None:
    """A bad crop_margin, scale or position is named at once, before the image is even
    decoded (an unreadable one here), so no inference is wasted on a doomed request."""
    base, key = server
    for field, value, message in (
        ("crop_margin", "1px 2px 3px", "crop_margin: give one, two or four values, got 3."),
        ("crop_margin", "ten", "crop_margin: 'ten' is not a length such as '30px' or '10%'."),
        ("scale", "5%", "scale: '5%' must be from 10% to 100%, or 'original'."),
        ("position", "150% 0%", "position: '150% 0%': percentages must be from 0% to 100%."),
        (
            "position",
            "left",
            "position: 'left': give 'original', 'center' or one or two percentages such as "
            "'50% 100%'.",
        ),
    ):
        r = httpx.post(
            f"{base}/v1.0/removebg",
            headers={"X-Api-Key": key},
            files={"image_file": ("p.jpg", b"not an image")},
            data={"crop": "true", field: value},
        )
        assert r.status_code == 400, (field, r.text)
        assert r.json()["errors"][0]["title"] == message
