"""The review page end to end in a real headless Chromium.

No quality gate is in this build yet, so the test wraps the real background-color-fix
handler with a measured check in the gate's JSON shape (issue 4): the background colour read
from the output's corner must be pure white. Outputs on any other colour are held.
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from selenium.webdriver.common.by import By

from browserkit import chromium, images_loaded, wait_text
from packshot.service import solutions
from packshot.service.solutions import RunRequest, RunResult
from servicekit import WebhookReceiver, new_key, photo_bytes, running_server, settings_for, wait_job

SECRET = "test-secret"


def _white_background_gate(req: RunRequest) -> RunResult:
    result = solutions.background_color_fix(req)
    out = result.files[0]
    corner = np.asarray(Image.open(io.BytesIO(out.data)).convert("RGB"))[0, 0]
    measured = "#{:02x}{:02x}{:02x}".format(*corner)
    passed = measured == "#ffffff"
    gate = {
        "verdict": "deliver" if passed else "hold",
        "reasons": [] if passed else [f"background is {measured}, not pure white"],
        "checks": [
            {
                "name": "background-white",
                "value": measured,
                "threshold": "#ffffff",
                "passed": passed,
                "fixable": False,
                "detail": "colour of the output's corner pixel",
            }
        ],
    }
    return RunResult([replace(out, gate=gate)], result.info)


@pytest.fixture
def gated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    original = solutions.SOLUTIONS["background-color-fix"]
    monkeypatch.setitem(
        solutions.SOLUTIONS,
        "background-color-fix",
        replace(original, handler=_white_background_gate),
    )
    yield


def test_review_page_approve_reject_rerun(model_cache: Path, tmp_path: Path, gated: None) -> None:
    receiver = WebhookReceiver(SECRET.encode())
    settings = settings_for(tmp_path)
    key = new_key(settings)
    photo = base64.b64encode(photo_bytes("product")).decode()
    with receiver.serve() as hook, running_server(settings) as base:
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120)
        jobs = []
        for color in ("#ffcc00", "#3366ff", "#ff0000"):
            body = {"image_base64": photo, "color": color, "callback_url": hook}
            r = api.post("/v1/run/background-color-fix", json=body)
            assert r.status_code == 202, r.text  # held: not delivered
            assert r.json()["state"] == "held"
            jobs.append(r.json()["id"])
        assert receiver.accepted() == []  # nothing delivered while held

        with chromium() as driver:
            driver.get(f"{base}/review")
            driver.find_element(By.ID, "key").send_keys(key)
            driver.find_element(By.ID, "sign-in").click()
            wait_text(driver, "count", "3 held")
            items = driver.find_elements(By.CSS_SELECTOR, ".item")
            assert [i.get_attribute("data-job") for i in items] == jobs
            # Every source and output is shown and really loads.
            assert all(w > 0 for w in images_loaded(driver, "img.source"))
            assert all(w > 0 for w in images_loaded(driver, "img.output"))
            assert len(images_loaded(driver, "img")) == 6
            failed = items[0].find_element(By.CSS_SELECTOR, "tr.failed")
            assert "background-white" in failed.text and "#ffcc00" in failed.text
            assert "FAILED" in failed.text

            items[0].find_element(By.CSS_SELECTOR, "button.approve").click()
            wait_text(driver, "count", "2 held")
            driver.find_elements(By.CSS_SELECTOR, ".item")[0].find_element(
                By.CSS_SELECTOR, "button.reject"
            ).click()
            wait_text(driver, "count", "1 held")
            last = driver.find_elements(By.CSS_SELECTOR, ".item")[0]
            params = last.find_element(By.CSS_SELECTOR, "textarea")
            assert json.loads(params.get_attribute("value"))["color"] == "#ff0000"
            params.clear()
            params.send_keys(json.dumps({"color": "#ffffff"}))
            last.find_element(By.CSS_SELECTOR, "button.rerun").click()
            wait_text(driver, "count", "0 held")

        approved = api.get(f"/v1/jobs/{jobs[0]}").json()
        assert approved["state"] == "done"
        link = approved["result"]["files"][0]["url"]
        assert httpx.get(link).status_code == 200
        rejected = api.get(f"/v1/jobs/{jobs[1]}").json()
        assert rejected["state"] == "failed" and rejected["error"]["code"] == "rejected"
        superseded = api.get(f"/v1/jobs/{jobs[2]}").json()
        assert superseded["error"]["code"] == "superseded"
        rerun_id = superseded["result"]["files"][0]["rerun_job_id"]
        rerun = wait_job(api, f"/v1/jobs/{rerun_id}")
        assert rerun["state"] == "done", rerun
        white = Image.open(io.BytesIO(httpx.get(rerun["result"]["files"][0]["url"]).content))
        assert np.asarray(white.convert("RGB"))[0, 0].tolist() == [255, 255, 255]
        got = receiver.wait_for(4, timeout=30)
        time.sleep(0.5)
        api.close()
    events = sorted((d.key.split(":")[0], d.event) for d in receiver.accepted())
    assert events == sorted(
        [
            (jobs[0], "run.completed"),
            (jobs[1], "run.failed"),
            (jobs[2], "run.failed"),
            (rerun_id, "run.completed"),
        ]
    )
    assert len(got) == 4


def _login(base: str, key: str, **headers: str) -> httpx.Response:
    return httpx.post(f"{base}/review/login", data={"key": key}, headers=headers)


def test_review_session_is_scoped_guarded_and_ends(
    model_cache: Path, tmp_path: Path, gated: None
) -> None:
    settings = settings_for(tmp_path)
    key = new_key(settings)
    photo = base64.b64encode(photo_bytes("product", 256)).decode()
    with running_server(settings) as base:
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120)
        r = api.post("/v1/run/background-color-fix", json={"image_base64": photo, "color": "#fc0"})
        assert r.status_code == 202 and r.json()["state"] == "held", r.text
        job_id = r.json()["id"]

        # Sign-in from another site is refused; from the page it opens a session.
        assert _login(base, key, Origin="https://evil.example").status_code == 403
        r = _login(base, key, Origin=base)
        assert r.status_code == 303
        cookie = r.headers["set-cookie"]
        token = r.cookies["packshot_review"]
        assert token and key not in cookie
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/review" in cookie
        assert "Secure" not in cookie  # plain http on loopback
        session = {"Cookie": f"packshot_review={token}"}

        # The session opens the review page only, and a raw key in a cookie opens nothing.
        assert httpx.get(f"{base}/v1/jobs/{job_id}", headers=session).status_code == 401
        stolen = {"Cookie": f"packshot_key={key}"}
        assert httpx.get(f"{base}/v1/jobs/{job_id}", headers=stolen).status_code == 401
        page = httpx.get(f"{base}/review", headers=session).text
        assert "1 held" in page
        review_id = re.search(r"id='(rev_[0-9a-f]+)'", page).group(1)  # type: ignore[union-attr]
        csrf = re.search(r"name='csrf' value='([0-9a-f]+)'", page).group(1)  # type: ignore[union-attr]
        approve = f"{base}/review/{review_id}/approve"

        forged = httpx.post(
            approve, data={"csrf": csrf}, headers={**session, "Origin": "https://evil.example"}
        )
        assert forged.status_code == 403
        assert forged.json()["error"]["code"] == "forbidden"
        assert httpx.post(approve, headers={**session, "Origin": base}).status_code == 403
        cross = {**session, "Sec-Fetch-Site": "cross-site"}
        assert httpx.post(approve, data={"csrf": csrf}, headers=cross).status_code == 403
        assert api.get(f"/v1/jobs/{job_id}").json()["state"] == "held"

        r = httpx.post(approve, data={"csrf": csrf}, headers={**session, "Origin": base})
        assert r.status_code == 303
        assert api.get(f"/v1/jobs/{job_id}").json()["state"] == "done"

        # Logout ends the session on the server: the old cookie is worthless.
        r = httpx.post(
            f"{base}/review/logout", data={"csrf": csrf}, headers={**session, "Origin": base}
        )
        assert r.status_code == 303 and 'packshot_review=""' in r.headers["set-cookie"]
        assert "Sign in" in httpx.get(f"{base}/review", headers=session).text
        api.close()


def test_review_cookie_is_secure_over_https(model_cache: Path, tmp_path: Path) -> None:
    public = "https://review.shop.example"
    settings = settings_for(tmp_path, public_url=public)
    key = new_key(settings)
    with running_server(settings) as base:
        assert _login(base, key, Origin=base).status_code == 403  # not the public origin
        r = _login(base, key, Origin=public)
    assert r.status_code == 303
    assert "Secure" in r.headers["set-cookie"]
