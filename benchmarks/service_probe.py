"""Probe a running ``packshot serve`` as a hostile or careless client would (issue 18).

    python benchmarks/service_probe.py [--model u2netp]

Starts ``packshot serve`` in a subprocess with production defaults (internal addresses
refused, a ``PACKSHOT_PUBLIC_URL``) and a fresh data folder and key, then sends: JSON
nested 2000 deep, image and webhook URLs that are IPv6 forms of internal IPv4
addresses, a webhook on loopback, a foreign ``Host`` header, a review sign-in from a
foreign ``Origin``, a bad key on the remove.bg endpoints, and the published
``remove-bg-api`` client with only its URL changed. Prints one line per probe; exits 1
when any probe gets an answer other than the expected one.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from service_load import create_key, photo_bytes, start_server

PUBLIC = "https://images.shop.example"
NESTED = '{"image_url": "https://example.com/a.jpg", "x": ' + "[" * 2000 + "]" * 2000 + "}"
EMBEDDED = (
    "http://[2002:7f00:1::]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
    "http://[::127.0.0.1]/",
    "http://[::ffff:10.0.0.1]/",
)


def probes(base: str, key: str) -> list[tuple[str, Callable[[], bool]]]:
    auth = {"Authorization": f"Bearer {key}"}
    photo = base64.b64encode(photo_bytes(256)).decode()
    json_type = {**auth, "Content-Type": "application/json"}

    def status(
        method: str, path: str, expected: int, code: str | None = None, **kw: Any
    ) -> Callable[[], bool]:
        def probe() -> bool:
            r = httpx.request(method, f"{base}{path}", timeout=120, **kw)
            is_json = r.headers.get("content-type", "").startswith("application/json")
            body = r.json() if is_json else {}
            # Ours: {"error": {...}}; remove.bg's: {"errors": [{...}]}.
            got = (body.get("error") or (body.get("errors") or [{}])[0]).get("code")
            return r.status_code == expected and (code is None or got == code)

        return probe

    def host_header() -> bool:
        r = httpx.post(
            f"{base}/v1/run/background-removal",
            json={"image_base64": photo, "async": True},
            headers={**auth, "Host": "evil.example"},
        )
        return r.status_code == 202 and r.json()["status_url"].startswith(f"{PUBLIC}/v1/jobs/")

    def review_cookie() -> bool:
        login = f"{base}/review/login"
        foreign = httpx.post(login, data={"key": key}, headers={"Origin": "https://evil.example"})
        own = httpx.post(login, data={"key": key}, headers={"Origin": PUBLIC})
        cookie = own.cookies.get("packshot_review", "")
        api = httpx.get(f"{base}/v1/solutions", headers={"Cookie": f"packshot_review={cookie}"})
        jobs = httpx.get(f"{base}/v1/jobs/job_x", headers={"Cookie": f"packshot_review={cookie}"})
        secure = "Secure" in own.headers.get("set-cookie", "")
        return (
            foreign.status_code == 403
            and own.status_code == 303
            and secure
            and (
                bool(cookie)
                and cookie != key
                and jobs.status_code == 401
                and api.status_code == 200
            )
        )

    def remove_bg_api_client() -> bool:
        import remove_bg_api

        remove_bg_api.API_URL = f"{base}/v1.0"  # the only change a user makes
        client = remove_bg_api.RemoveBg(key)
        out = client.remove_bg_bytes(base64.b64decode(photo), size="preview", raw=True)
        png = Image.open(io.BytesIO(out))
        try:
            remove_bg_api.RemoveBg("wrong-key")
        except remove_bg_api.Errors.ApiErrorCode403:
            refused = True
        else:
            refused = False
        return png.mode == "RGBA" and refused and client.account.balance() > 0

    found: list[tuple[str, Callable[[], bool]]] = [
        (
            f"nested JSON on {path}",
            status("POST", path, 400, "bad_input", content=NESTED, headers=json_type),
        )
        for path in ("/v1/run/background-removal", "/v1/batches")
    ]
    found.append(
        (
            "nested JSON on /v1.0/removebg",
            status(
                "POST",
                "/v1.0/removebg",
                400,
                "bad_input",
                content=NESTED,
                headers={"X-Api-Key": key, "Content-Type": "application/json"},
            ),
        )
    )
    for url in EMBEDDED:
        found.append(
            (
                f"image_url {url}",
                status(
                    "POST",
                    "/v1/run/background-removal",
                    400,
                    "url_not_allowed",
                    json={"image_url": url},
                    headers=auth,
                ),
            )
        )
        found.append(
            (
                f"callback_url {url}",
                status(
                    "POST",
                    "/v1/run/background-removal",
                    400,
                    "url_not_allowed",
                    json={"image_base64": photo, "async": True, "callback_url": url},
                    headers=auth,
                ),
            )
        )
    found += [
        (
            "callback_url on loopback",
            status(
                "POST",
                "/v1/batches",
                400,
                "url_not_allowed",
                json={
                    "solution": "background-removal",
                    "callback_url": "http://127.0.0.1:9/hook",
                    "items": [{"image_base64": photo}],
                },
                headers=auth,
            ),
        ),
        ("Host: evil.example gives links on the public URL", host_header),
        ("review sign-in: foreign Origin refused, cookie is no API key", review_cookie),
        (
            "bad key on /v1.0/removebg is 403",
            status("POST", "/v1.0/removebg", 403, "unauthorized", headers={"X-Api-Key": "bad"}),
        ),
        (
            "bad key on /v1.0/account is 403",
            status("GET", "/v1.0/account", 403, "unauthorized", headers={"X-Api-Key": "bad"}),
        ),
        (
            "bad key on /v1/jobs stays 401",
            status("GET", "/v1/jobs/job_x", 401, "unauthorized", headers={"X-Api-Key": "bad"}),
        ),
        ("remove-bg-api client, only API_URL changed", remove_bg_api_client),
    ]
    return found


def run(model: str = "u2netp") -> list[tuple[str, bool]]:
    data = Path(tempfile.mkdtemp(prefix="packshot-probe-"))
    env = {k: v for k, v in os.environ.items() if k != "PACKSHOT_ALLOW_PRIVATE_URLS"}
    env["PACKSHOT_PUBLIC_URL"] = PUBLIC
    key = create_key(data, env)
    server, base = start_server(data, env, "--model", model)
    results = []
    try:
        for name, probe in probes(base, key):
            try:
                ok = probe()
            except Exception as exc:
                print(f"  {name}: {type(exc).__name__}: {exc}")
                ok = False
            results.append((name, ok))
            print(f"{'pass' if ok else 'FAIL'}  {name}")
    finally:
        server.terminate()
        server.wait(timeout=60)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="u2netp")
    args = parser.parse_args()
    results = run(args.model)
    failed = [name for name, ok in results if not ok]
    print(f"{len(results) - len(failed)} of {len(results)} probes passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
