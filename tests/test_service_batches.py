"""Batches, signed webhooks with retries, and a server killed mid-batch (real processes)."""

from __future__ import annotations

import base64
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from servicekit import (
    WebhookReceiver,
    free_port,
    new_key,
    photo_bytes,
    running_server,
    serve_process,
    settings_for,
    wait_job,
)

SECRET = "test-secret"


def _items(count: int, max_side: int = 480) -> list[dict[str, str]]:
    names = ["product", "animal", "car", "baby"]
    return [
        {
            "ref": f"item-{n}",
            "image_base64": base64.b64encode(photo_bytes(names[n % 4], max_side)).decode(),
        }
        for n in range(count)
    ]


def test_batch_items_webhooks_signed_and_retried(model_cache: Path, tmp_path: Path) -> None:
    receiver = WebhookReceiver(SECRET.encode(), fail_first=1)
    settings = settings_for(tmp_path)
    key = new_key(settings)
    items = _items(3)
    items.append({"ref": "broken", "image_base64": base64.b64encode(b"not an image").decode()})
    with (
        receiver.serve() as hook,
        running_server(settings) as base,
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c,
    ):
        body = {"solution": "background-removal", "callback_url": hook, "items": items}
        r = c.post("/v1/batches", json=body)
        assert r.status_code == 202, r.text
        batch = wait_job(
            c, r.json()["status_url"], timeout=180, done=lambda b: b["state"] == "done"
        )
        got = receiver.wait_for(4, timeout=60)
        deliveries = c.get(f"/v1/jobs/{batch['items'][0]['id']}/deliveries").json()
        # The completed event carries a working link to the output.
        done = next(d for d in got if d.event == "run.completed")
        link = done.body["data"]["result"]["files"][0]["url"]
        assert httpx.get(link).status_code == 200
    assert batch["counts"] == {"done": 3, "failed": 1}
    assert [i["state"] for i in batch["items"]] == ["done", "done", "done", "failed"]
    assert batch["items"][3]["error"]["code"] == "image_unreadable"
    assert len(got) == 4 and all(d.signature_ok for d in got)
    events = {d.key: d.event for d in got}
    for item in batch["items"]:
        expected = "run.completed" if item["state"] == "done" else "run.failed"
        assert events[f"{item['id']}:{item['state']}"] == expected
    # Each event failed once (HTTP 500) and was retried: both attempts are in the log.
    assert all(n == 2 for n in receiver.attempts.values())
    attempts = deliveries["events"][0]["attempts"]
    assert [a["status_code"] for a in attempts] == [500, 200]
    assert attempts[0]["error"] == "HTTP 500"


def test_batch_validation_names_the_item(model_cache: Path, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    key = new_key(settings)
    with running_server(settings) as base:
        headers = {"Authorization": f"Bearer {key}"}
        r = httpx.post(
            f"{base}/v1/batches",
            json={"solution": "smart-resize", "items": [{"image_url": "https://e.com/a.jpg"}, {}]},
            headers=headers,
        )
        assert r.status_code == 400
        assert r.json()["error"]["message"].startswith("items[1]: no image")


def _serve(port: int, data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    return serve_process(port, data_dir, log)


@pytest.mark.slow
def test_killed_server_resumes_batch_and_delivers_each_webhook_once(
    model_cache: Path, tmp_path: Path
) -> None:
    receiver = WebhookReceiver(SECRET.encode())
    data_dir = tmp_path / "data"
    settings = settings_for(data_dir)
    key = new_key(settings)
    headers = {"Authorization": f"Bearer {key}"}
    items = _items(10, max_side=900)
    items.append({"ref": "broken", "image_base64": base64.b64encode(b"GIF89a broken").decode()})
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    with receiver.serve() as hook:
        server = _serve(port, data_dir, log)
        try:
            body = {"solution": "background-removal", "callback_url": hook, "items": items}
            r = httpx.post(f"{base}/v1/batches", json=body, headers=headers, timeout=60)
            assert r.status_code == 202, r.text
            status_url = r.json()["status_url"]
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                counts = httpx.get(status_url, headers=headers).json()["counts"]
                if counts.get("done", 0) >= 2:
                    break
                time.sleep(0.1)
            before = receiver.accepted()
        finally:
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=30)
        # Killed mid-batch: some items were still waiting or running.
        assert counts.get("done", 0) < 10, counts
        server = _serve(port, data_dir, log)
        try:
            batch = wait_job(
                httpx.Client(headers=headers, timeout=60),
                status_url,
                timeout=600,
                done=lambda b: b["state"] == "done",
            )
            got = receiver.wait_for(11, timeout=120)
            time.sleep(1.5)  # any duplicate would arrive now
            got = receiver.accepted()
        finally:
            server.terminate()
            server.wait(timeout=60)
    assert batch["counts"] == {"done": 10, "failed": 1}, batch["counts"]
    keys = Counter(d.key for d in got)
    assert len(got) == 11 and set(keys.values()) == {1}, keys
    assert all(d.signature_ok for d in got)
    expected = {f"{i['id']}:{i['state']}" for i in batch["items"]}
    assert set(keys) == expected
    assert len(before) < 11
