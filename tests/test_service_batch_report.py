"""A batch's report from the server that holds it (a real uvicorn server, a real listing
batch): held outputs link to their review page entries, images come through signed links,
a failed item has its row, and the check tables are served beside the page."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import httpx

from servicekit import new_key, photo_bytes, running_server, settings_for, wait_job


def test_batch_report_links_held_outputs_to_the_review_page(
    model_cache: Path, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)
    key = new_key(settings)
    # The baby photo is cut off by its own frame: amazon-main holds it (product_cut_off).
    items = [
        {"sku": "baby", "image_base64": base64.b64encode(photo_bytes("baby", 480)).decode()},
        {"sku": "broken", "image_base64": base64.b64encode(b"not an image").decode()},
    ]
    body = {"solution": "listing", "params": {"market": ["amazon-main"]}, "items": items}
    with (
        running_server(settings) as base,
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c,
    ):
        r = c.post("/v1/batches", json=body)
        assert r.status_code == 202, r.text
        batch_id = r.json()["id"]
        wait_job(
            c,
            r.json()["status_url"],
            timeout=300,
            done=lambda b: all(i["state"] in ("done", "held", "failed") for i in b["items"]),
        )
        page = c.get(f"/v1/batches/{batch_id}/report")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        text = page.text
        # The review page opens with a sign-in session, never with the API key itself.
        login = httpx.post(f"{base}/review/login", data={"key": key}, headers={"Origin": base})
        token = login.cookies["packshot_review"]
        review = httpx.get(f"{base}/review", headers={"Cookie": f"packshot_review={token}"}).text
        held = re.findall(r"<div class='item' id='(rev_[0-9a-f]+)'", review)
        assert held, review
        for rid in held:
            assert f'href="{base}/review#{rid}"' in text
        assert 'id="c-baby--amazon-main"' in text and 'id="c-broken--listing"' in text
        assert "not an image" in text or "cannot" in text
        cell = text[text.index('id="c-baby--amazon-main"') :]
        src = html.unescape(re.search(r'<img src="([^"]+)"', cell).group(1))  # type: ignore[union-attr]
        image = httpx.get(src)  # a signed link: no key needed
        assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
        chunk = c.get(f"/v1/batches/{batch_id}/_report/checks-0000.js")
        assert chunk.status_code == 200 and chunk.text.startswith("packshotPanels(0,")
        assert c.get(f"/v1/batches/{batch_id}/_report/secret").status_code == 404
        # Another key sees no such batch.
        other = new_key(settings, "other")
        denied = httpx.get(
            f"{base}/v1/batches/{batch_id}/report", headers={"Authorization": f"Bearer {other}"}
        )
        assert denied.status_code == 404
