"""The service under hostile and sloppy clients (issue 18), each on a real server on
loopback: nested JSON, IPv6 forms of internal addresses, internal webhooks, forged Host
headers, a slow webhook receiver, retention, batch refs, repeated uploads, server paths."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from packshot.errors import log_file
from packshot.models import registry
from packshot.pipeline import listing
from servicekit import (
    WebhookReceiver,
    new_key,
    photo_bytes,
    running_server,
    settings_for,
    wait_job,
)

SECRET = "test-secret"
PUBLIC = "https://images.shop.example/packshot"


@dataclass
class Server:
    base: str
    key: str
    data_dir: Path

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.base,
            headers={"Authorization": f"Bearer {self.key}", **headers},
            timeout=120,
        )


@pytest.fixture(scope="module")
def strict(model_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Internal addresses refused (the production default), links on a public URL."""
    data = tmp_path_factory.mktemp("hostile")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(registry.MODELS_DIR_ENV, str(model_cache))
        mp.delenv("PACKSHOT_ALLOW_PRIVATE_URLS", raising=False)
        settings = settings_for(
            data, allow_private_urls=False, public_url=PUBLIC, rate_per_minute=1000
        )
        key = new_key(settings)
        with running_server(settings) as base:
            yield Server(base, key, data)


@pytest.fixture(scope="module")
def small() -> str:
    return base64.b64encode(photo_bytes("product", max_side=256)).decode()


# ------------------------------------------------------------------ 1. nested JSON


def test_deeply_nested_json_is_a_clear_400(strict: Server) -> None:
    deep = '{"image_url": "https://example.com/a.jpg", "x": ' + "[" * 2000 + "]" * 2000 + "}"
    assert 4000 < len(deep) < 5000
    shallow_but_deep = '{"items": ' + "[" * 40 + "]" * 40 + "}"
    with strict.client(**{"Content-Type": "application/json"}) as c:
        for path, body in (
            ("/v1/run/background-removal", deep),
            ("/v1/run/listing", deep),
            ("/v1/batches", deep),
            ("/v1/batches", shallow_but_deep),
        ):
            r = c.post(path, content=body)
            assert r.status_code == 400, (path, r.status_code, r.text)
            assert r.json()["error"]["message"] == "The body is nested deeper than 32 levels."
        r = c.post("/v1.0/removebg", content=deep, headers={"X-Api-Key": strict.key})
        assert r.status_code == 400, r.text
        assert "nested deeper" in r.json()["errors"][0]["title"]
        # The same connection goes on serving.
        assert c.get("/healthz").status_code == 200


def test_repeated_json_key_is_named(strict: Server) -> None:
    body = '{"image_url": "https://example.com/a.jpg", "image_url": "https://example.com/b.jpg"}'
    with strict.client(**{"Content-Type": "application/json"}) as c:
        r = c.post("/v1/run/background-removal", content=body)
    assert r.status_code == 400
    assert r.json()["error"]["message"] == (
        "image_url: the field appears more than once in a JSON object."
    )


# ------------------------------------------------------------------ 2. IPv6 embedding IPv4

EMBEDDED = [
    "http://[2002:7f00:1::]/a.jpg",  # 6to4 of 127.0.0.1
    "http://[2002:a9fe:a9fe::]/latest/meta-data/",  # 6to4 of 169.254.169.254
    "http://[64:ff9b::7f00:1]/a.jpg",  # NAT64 of 127.0.0.1
    "http://[64:ff9b::a00:1]/a.jpg",  # NAT64 of 10.0.0.1
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/a.jpg",  # Teredo, client 127.0.0.1
    "http://[::127.0.0.1]/a.jpg",  # IPv4-compatible
    "http://[::ffff:127.0.0.1]/a.jpg",  # IPv4-mapped
    "http://[::ffff:0:7f00:1]/a.jpg",  # IPv4-translated
]


@pytest.mark.parametrize("url", EMBEDDED)
def test_ipv6_forms_of_internal_ipv4_are_refused(strict: Server, url: str, small: str) -> None:
    with strict.client() as c:
        r = c.post("/v1/run/background-removal", json={"image_url": url})
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["code"] == "url_not_allowed", error
        assert "refused" in error["message"]
        r = c.post(
            "/v1/run/background-removal",
            json={"image_base64": small, "callback_url": url, "async": True},
        )
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["code"] == "url_not_allowed", error
        assert error["message"].startswith("callback_url: ")


def test_6to4_message_names_the_embedded_address(strict: Server) -> None:
    with strict.client() as c:
        r = c.post("/v1/run/background-removal", json={"image_url": EMBEDDED[0]})
    message = r.json()["error"]["message"]
    assert "6to4 address 2002:7f00:1::, which embeds a loopback IPv4 127.0.0.1" in message


# ------------------------------------------------------------------ 3. internal webhooks


def test_internal_callback_url_is_refused_at_submit(strict: Server, small: str) -> None:
    with strict.client() as c:
        for url in (
            "http://127.0.0.1:9/hook",
            "http://localhost:8080/hook",
            "http://10.0.0.5/hook",
            "http://169.254.169.254/hook",
        ):
            for path, body in (
                ("/v1/run/background-removal", {"image_base64": small, "async": True}),
                ("/v1/batches", {"solution": "background-removal", "items": [{}]}),
            ):
                if path == "/v1/batches":
                    body["items"] = [{"image_base64": small}]
                r = c.post(path, json={**body, "callback_url": url})
                assert r.status_code == 400, (path, url, r.text)
                error = r.json()["error"]
                assert error["code"] == "url_not_allowed"
                assert error["message"].startswith("callback_url: Could not fetch")
        r = c.post(
            "/v1/run/background-removal",
            json={"image_base64": small, "callback_url": "http://no-such-host.invalid/hook"},
        )
        assert r.status_code == 400
        assert "cannot resolve host 'no-such-host.invalid'" in r.json()["error"]["message"]
        r = c.post(
            "/v1/run/background-removal",
            json={"image_base64": small, "callback_url": "ftp://example.com/hook"},
        )
        assert r.status_code == 400
        assert "must be an http(s) URL" in r.json()["error"]["message"]


# ------------------------------------------------------------------ 5. links and Host


def test_links_come_from_the_public_url_not_the_host_header(strict: Server, small: str) -> None:
    with strict.client(Host="evil.example") as c:
        r = c.post("/v1/run/background-removal", json={"image_base64": small, "async": True})
        assert r.status_code == 202, r.text
        status_url = r.json()["status_url"]
        assert status_url.startswith(f"{PUBLIC}/v1/jobs/job_")
        job = wait_job(c, status_url.replace(PUBLIC, ""))
        assert job["state"] == "done"
        assert job["result"]["files"][0]["url"].startswith(f"{PUBLIC}/v1/files/results/")
        r = c.post("/v1/run/background-removal", json={"image_base64": small, "response": "json"})
        assert r.json()["result"]["files"][0]["url"].startswith(f"{PUBLIC}/v1/files/")
        r = c.post(
            "/v1/batches",
            json={"solution": "background-removal", "items": [{"image_base64": small}]},
        )
        assert r.json()["status_url"].startswith(f"{PUBLIC}/v1/batches/bat_")
    # The public link is a real one: the same path and signature work on the server.
    link = job["result"]["files"][0]["url"]
    assert httpx.get(link.replace(PUBLIC, strict.base)).status_code == 200


def test_links_fall_back_to_the_bind_address(model_cache: Path, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    key = new_key(settings)
    with running_server(settings, bind_links=True) as base:
        r = httpx.post(
            f"{base}/v1/batches",
            json={
                "solution": "background-removal",
                "items": [{"image_url": "https://example.com/a.jpg"}],
            },
            headers={"Authorization": f"Bearer {key}", "Host": "evil.example"},
        )
    assert r.status_code == 202, r.text
    assert r.json()["status_url"].startswith(f"{base}/v1/batches/")


def test_public_url_is_checked(tmp_path: Path) -> None:
    from packshot.errors import InputError

    with pytest.raises(InputError, match="PACKSHOT_PUBLIC_URL must be an http"):
        settings_for(tmp_path, public_url="images.example.com").prepare()


# ------------------------------------------------------------------ 4. slow webhook receiver


def test_a_slow_receiver_does_not_delay_another(model_cache: Path, tmp_path: Path) -> None:
    gate = threading.Event()
    stuck = WebhookReceiver(SECRET.encode(), gate=gate)
    fast = WebhookReceiver(SECRET.encode())
    settings = settings_for(tmp_path, webhook_timeout_s=60.0)
    key = new_key(settings)
    photo = base64.b64encode(photo_bytes("product", max_side=256)).decode()
    with (
        stuck.serve() as stuck_hook,
        fast.serve() as fast_hook,
        running_server(settings) as base,
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c,
    ):

        def run(hook: str) -> None:
            body = {"image_base64": photo, "callback_url": hook, "response": "json"}
            r = c.post("/v1/run/background-removal", json=body)
            assert r.status_code == 200, r.text

        run(stuck_hook)
        run(stuck_hook)
        # The stuck receiver has the first event and does not answer.
        assert len(stuck.wait_for(1, timeout=30)) == 1
        run(fast_hook)
        finished = time.monotonic()
        fast_got = fast.wait_for(1, timeout=10)
        gate.set()
        stuck_got = stuck.wait_for(2, timeout=60)
    assert len(fast_got) == 1, "the fast receiver waited for the stuck one"
    assert fast_got[0].at - finished < 2.0, fast_got[0].at - finished
    # Once it answers, the stuck receiver gets both of its events, once each.
    assert len(stuck_got) == 2 and len({d.key for d in stuck_got}) == 2
    assert all(d.signature_ok for d in [*fast_got, *stuck_got])


# ------------------------------------------------------------------ 8. retention


def test_retention_deletes_inputs_then_results_then_jobs(
    model_cache: Path, tmp_path: Path, small: str
) -> None:
    settings = settings_for(
        tmp_path, keep_inputs_s=1.0, keep_results_s=4.0, keep_jobs_s=7.0, sweep_interval_s=0.2
    )
    key = new_key(settings)
    inputs, results = tmp_path / "inputs", tmp_path / "results"
    with (
        running_server(settings) as base,
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as c,
    ):
        r = c.post(
            "/v1/run/background-removal",
            json={"image_base64": small, "response": "json"},
            timeout=60,
        )
        assert r.status_code == 200, r.text
        job_id = r.json()["id"]
        assert (inputs / job_id / "image").is_file()
        assert (results / job_id).is_dir()

        def gone(path: Path, timeout: float = 20) -> bool:
            deadline = time.monotonic() + timeout
            while path.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            return not path.exists()

        assert gone(inputs / job_id)
        assert (results / job_id).is_dir()  # results are kept longer
        assert gone(results / job_id)
        job = c.get(f"/v1/jobs/{job_id}").json()
        assert job["state"] == "done"
        [entry] = job["result"]["files"]
        assert entry["expired"] is True and "url" not in entry
        deadline = time.monotonic() + 20
        while c.get(f"/v1/jobs/{job_id}").status_code != 404 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert c.get(f"/v1/jobs/{job_id}").status_code == 404


def test_retention_durations() -> None:
    from packshot.service.settings import parse_duration

    assert parse_duration("90", "X") == 90
    assert parse_duration("15m", "X") == 900
    assert parse_duration("12h", "X") == 43200
    assert parse_duration("30d", "X") == 30 * 86400
    assert parse_duration("forever", "X") is None
    with pytest.raises(Exception, match="PACKSHOT_KEEP_INPUTS must be a positive duration"):
        parse_duration("a week", "PACKSHOT_KEEP_INPUTS")


# ------------------------------------------------------------------ 9. smaller ones


def test_batch_refs_are_stored_and_echoed_in_webhooks(
    model_cache: Path, tmp_path: Path, small: str
) -> None:
    receiver = WebhookReceiver(SECRET.encode())
    settings = settings_for(tmp_path)
    key = new_key(settings)
    with (
        receiver.serve() as hook,
        running_server(settings) as base,
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c,
    ):
        items = [
            {"ref": "SKU-1", "image_base64": small},
            {"ref": 42, "image_base64": base64.b64encode(b"not an image").decode()},
        ]
        body = {"solution": "background-removal", "callback_url": hook, "items": items}
        r = c.post("/v1/batches", json=body)
        assert r.status_code == 202, r.text
        assert [i["ref"] for i in r.json()["items"]] == ["SKU-1", 42]
        batch = wait_job(c, r.json()["status_url"], done=lambda b: b["state"] == "done")
        got = receiver.wait_for(2, timeout=60)
        bad = c.post(
            "/v1/batches", json={**body, "items": [{"ref": {"a": 1}, "image_base64": small}]}
        )
    assert [i["ref"] for i in batch["items"]] == ["SKU-1", 42]
    assert sorted((str(d.body["data"]["ref"]), d.event) for d in got) == [
        ("42", "run.failed"),
        ("SKU-1", "run.completed"),
    ]
    assert {type(d.body["data"]["ref"]) for d in got} == {str, int}
    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == "items[0].ref: expected a string or a whole number."


def test_two_image_file_parts_are_refused(strict: Server) -> None:
    a, b = photo_bytes("product", 128), photo_bytes("car", 128)
    with strict.client() as c:
        r = c.post(
            "/v1/run/background-removal",
            files=[("image_file", ("a.jpg", a)), ("image_file", ("b.jpg", b))],
        )
        assert r.status_code == 400, r.text
        assert r.json()["error"]["message"] == (
            "image_file: 2 files were uploaded under this name; send one image per field."
        )
        r = c.post(
            "/v1.0/removebg",
            headers={"X-Api-Key": strict.key},
            files=[("image_file", ("a.jpg", a)), ("image_file", ("b.jpg", b))],
        )
        assert r.status_code == 400
        assert r.json()["errors"][0]["title"].startswith("image_file: 2 files")
        r = c.post(
            "/v1/run/background-removal",
            data={"image_url": ["https://example.com/a.jpg", "https://example.com/b.jpg"]},
        )
        assert r.status_code == 400
        assert r.json()["error"]["message"] == "image_url: 2 values were sent; send one image."


def test_listing_errors_name_no_server_path(
    model_cache: Path, tmp_path: Path, small: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PACKSHOT_LOG_FILE", str(tmp_path / "logs" / "packshot.log"))

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the gate broke")

    # A bug inside the pipeline: its message names the item (its SKU), the target and the log.
    monkeypatch.setattr(listing, "best_output", broken)
    settings = settings_for(tmp_path / "data")
    key = new_key(settings)
    with (
        running_server(settings) as base,
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c,
    ):
        r = c.post("/v1/run/listing", json={"image_base64": small, "market": ["amazon-main"]})
        assert r.status_code == 202, r.text
        job = wait_job(c, r.json()["status_url"], timeout=240)
    assert job["state"] == "failed", job
    message = job["error"]["message"]
    assert "item -> amazon-main: internal error (RuntimeError: the gate broke)" in message
    assert "traceback in packshot.log" in message
    assert str(tmp_path) not in message and str(log_file().parent) not in message
    assert "/" not in message.split("RuntimeError")[0]
