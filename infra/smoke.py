#!/usr/bin/env python3
"""The smoke flow of a deployed stack, through its API (Python's standard library only, so
it runs wherever the deploy ran):

  1. GET  /v1/health                      the function answers through the gateway
  2. GET  /v1/health/ready                every table and bucket answers the functions
  3. POST /v1/products                    an admin creates a product (a new barcode)
  4. POST /v1/scan                        a store owner receives 3 of it (a scan id)
  5. POST /v1/scan (again)                the same scan id counts once
  6. GET  /v1/stores/{s}/inventory        the item, 3 on hand
  7. POST /v1/stores/{s}/imports          a CSV import: presigned upload, PUT to S3, then the
     GET  /v1/jobs/{id} until completed   S3 notification -> SQS -> csv-import path
  8. GET  /v1/stores/{s}/inventory        the list's counts are the stock (the scanned product
                                          now 10 on hand, and a new product's item)
  9. POST /v1/stores, /v1/auth/code       with --sms-inbox (a local stack): an admin makes the
     POST /v1/auth/token (code, refresh)  store a record, its owner asks for a code, reads the
     GET  /v1/stores/{s}/inventory        SMS from the inbox, signs in, refreshes, and reads
                                          the inventory with the access token
 10. POST /v1/stores/{s}/keys             with --sms-inbox: the owner makes an integration key
     GET  /v1/stores/{s}/inventory        (inventory:read) that reads the inventory, is refused
     DELETE /v1/stores/{s}/keys/{k}       a write, and is refused once revoked

Each run uses a new store and barcode, so it can run against a stack that already has data
(dev after a deploy); what it leaves behind is its own store and two pending products named
"Smoke Test ...". Staging and prod get `--read-only`: steps 1 and 2, an admin's page of the
catalog and the API document, nothing written. The tokens are minted here with the stage's
secret (the HS256 format of shared/src/auth.rs), for an hour.

Usage: smoke.py --base-url URL [--jwt-secret-env NAME (default JWT_SECRET)] [--read-only]
                [--job-timeout SECONDS] [--sms-inbox URL]
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import random
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

ISSUER = "kirana-catalog"  # shared/src/auth.rs, ISSUER


def token(secret, role, sub, stores=()):
    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"sub": sub, "role": role, "store_ids": list(stores), "iat": now, "exp": now + 3600, "iss": ISSUER}
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b64(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), head.encode(), hashlib.sha256).digest()
    return head + "." + b64(sig)


def gtin13(rng):
    digits = [rng.randrange(10) for _ in range(12)]
    digits[0] = 2  # 2xxxxxxxxxxxx: in-store numbers, never a real product's
    check = (10 - sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
    return "".join(map(str, digits)) + str(check)


class Smoke:
    def __init__(self, base):
        self.base = base.rstrip("/")
        self.step = 0

    def call(self, method, path, tok=None, body=None, expect=(200,), url=None, headers=None, raw=None):
        req_headers = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            req_headers["content-type"] = "application/json"
        if tok:
            req_headers["authorization"] = f"Bearer {tok}"
        req = urllib.request.Request(url or self.base + path, data=data, method=method, headers=req_headers)
        started = time.time()
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status, text = r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode()
        except OSError as e:
            self.fail(f"{method} {path or url}: {e}")
        ms = (time.time() - started) * 1000
        if status not in expect:
            self.fail(f"{method} {path or url} answered {status}, expected {expect}: {text[:500]}")
        return status, (json.loads(text) if text.strip().startswith(("{", "[")) else text), ms

    def ok(self, what, ms):
        self.step += 1
        print(f"[smoke] {self.step:2}. {what} ({ms:.0f} ms)", flush=True)

    def fail(self, msg):
        print(f"[smoke] FAILED after step {self.step}: {msg}", file=sys.stderr, flush=True)
        sys.exit(1)

    def check(self, cond, msg):
        if not cond:
            self.fail(msg)


def sms_code(s, inbox, phone):
    """The code in the last SMS the stack sent to `phone` (ministack's record of SNS publishes)."""
    url = inbox + "?" + urllib.parse.urlencode({"phoneNumber": phone})
    _, body, _ = s.call("GET", "", url=url)
    messages = body.get("sms_messages", {}).get(phone, []) if isinstance(body, dict) else []
    s.check(messages, f"no SMS to {phone} in {url}: {body}")
    found = re.search(r"\b(\d{6})\b", messages[-1]["Message"])
    s.check(found, f"no code in the SMS: {messages[-1]}")
    return found.group(1)


def sign_in(s, admin, store, inbox):
    """Step 9: the store as a record, its owner signed in by SMS, a refresh, the access token used."""
    phone = "+9199" + "".join(str(random.randrange(10)) for _ in range(8))
    body = {"store_id": store, "name": "Smoke Test Store", "region": "IN-MH", "owner": {"phone": phone, "display_name": "Smoke Owner"}}
    _, created, ms = s.call("POST", "/v1/stores", admin, body, (201,))
    s.ok(f"store {store} made a record, owner {created['owner_user_id']}", ms)
    _, _, ms = s.call("POST", "/v1/auth/code", body={"phone": phone}, expect=(202,))
    code = sms_code(s, inbox, phone)
    s.ok("sign-in code sent by SMS (SNS Publish) and read from the inbox", ms)
    grant = {"grant_type": "code", "phone": phone, "code": code}
    _, pair, ms = s.call("POST", "/v1/auth/token", body=grant)
    s.check(pair.get("role") == "store_owner" and pair.get("store_ids") == [store], f"the token pair: {pair}")
    s.ok(f"signed in: {pair['role']} of {pair['store_ids']}, access for {pair['expires_in']} s", ms)
    _, nxt, ms = s.call("POST", "/v1/auth/token", body={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]})
    s.check(nxt["refresh_token"] != pair["refresh_token"], "the refresh token rotated")
    s.ok("refreshed: a new pair, the old refresh token spent", ms)
    _, listing, ms = s.call("GET", f"/v1/stores/{store}/inventory", nxt["access_token"])
    s.check(len(listing["items"]) == 2, f"the signed-in owner's inventory: {listing}")
    s.ok("the signed-in owner reads the store's inventory", ms)
    return nxt["access_token"]


def integration_key(s, store, access):
    """Step 10: a key made by the signed-in owner reads, is held to its scope, and stops when revoked."""
    body = {"name": "Smoke POS", "scopes": ["inventory:read"], "requests_per_minute": 60}
    _, made, ms = s.call("POST", f"/v1/stores/{store}/keys", access, body, (201,))
    key, key_id = made["secret"], made["key"]["key_id"]
    s.check(key.startswith(f"kck_{store}."), f"the key's form: {key[:20]}...")
    s.ok(f"integration key {key_id} made (inventory:read)", ms)
    _, listing, ms = s.call("GET", f"/v1/stores/{store}/inventory", key)
    s.check(len(listing["items"]) == 2, f"the key's read of the inventory: {listing}")
    s.ok("the key reads the store's inventory (key read, bucket taken)", ms)
    product = listing["items"][0]["product_id"]
    _, refused, ms = s.call("PUT", f"/v1/stores/{store}/inventory/{product}", key, {"quantity": "1"}, (403,))
    s.check(refused.get("code") == "forbidden_key_scope", f"a write with a read key: {refused}")
    s.ok("the key is refused a write (forbidden_key_scope)", ms)
    _, _, ms = s.call("DELETE", f"/v1/stores/{store}/keys/{key_id}", access, expect=(204,))
    s.ok("the owner revokes it", ms)
    _, gone, ms = s.call("GET", f"/v1/stores/{store}/inventory", key, expect=(401,))
    s.check(gone.get("code") == "key_revoked", f"a revoked key's read: {gone}")
    s.ok("its next request is refused (key_revoked)", ms)


def item_of(listing, product_id):
    return next((i for i in listing["items"] if i["product_id"] == product_id), None)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base-url", required=True)
    p.add_argument("--jwt-secret-env", default="JWT_SECRET", help="the variable holding the stage's token secret")
    p.add_argument("--job-timeout", type=float, default=180)
    p.add_argument("--read-only", action="store_true", help="write nothing (staging, prod)")
    p.add_argument(
        "--sms-inbox",
        help="where the SMS the stack sent can be read (ministack's /_ministack/sns/sms-messages): adds the sign-in steps",
    )
    args = p.parse_args()
    secret = os.environ.get(args.jwt_secret_env) or sys.exit(f"[smoke] ${args.jwt_secret_env} is not set")
    rng = random.Random()
    store = f"smoke-{uuid.uuid4().hex[:12]}"
    admin = token(secret, "admin", "smoke-admin")
    owner = token(secret, "store_owner", "smoke-owner", [store])
    s = Smoke(args.base_url)
    started = time.time()

    _, body, ms = s.call("GET", "/v1/health")
    s.check(body.get("status") == "ok", f"health: {body}")
    s.ok(f"health: {body}", ms)

    _, body, ms = s.call("GET", "/v1/health/ready")
    s.check(body.get("ready") is True, f"readiness: {body}")
    s.ok("ready: " + ", ".join(f"{c['part']} {c['ms']} ms" for c in body["checks"]), ms)

    if args.read_only:
        _, page, ms = s.call("GET", "/v1/products?limit=1", admin)
        s.check(isinstance(page.get("items"), list), f"a page of products: {page}")
        s.ok(f"an admin's page of the catalog: {len(page['items'])} product", ms)
        _, doc, ms = s.call("GET", "/v1/openapi.json")
        s.check(str(doc.get("openapi", "")).startswith("3."), "the API document")
        s.ok(f"the API document: OpenAPI {doc['openapi']}, {len(doc['paths'])} paths", ms)
        print(f"[smoke] passed (read-only): {s.step} steps in {time.time() - started:.1f} s", flush=True)
        return

    barcode = gtin13(rng)
    _, product, ms = s.call(
        "POST", "/v1/products", admin, {"name": f"Smoke Test Atta 5kg {store}", "brand": "Smoke", "barcode": barcode}, (201,)
    )
    pid = product["product_id"]
    s.ok(f"product {pid} created (barcode {barcode})", ms)

    scan = {"store_id": store, "barcode": barcode, "mode": "receive", "quantity": 3, "scan_id": f"smoke-{uuid.uuid4()}"}
    _, body, ms = s.call("POST", "/v1/scan", owner, scan, (200, 201))
    s.ok(f"scan: received 3 in {store}", ms)
    _, body, ms = s.call("POST", "/v1/scan", owner, scan, (200, 201))
    s.ok("the same scan again (its scan id): counted once", ms)

    _, listing, ms = s.call("GET", f"/v1/stores/{store}/inventory", owner)
    item = item_of(listing, pid)
    s.check(item is not None, f"inventory has no item for {pid}: {listing}")
    s.check(str(item["quantity"]) == "3", f"inventory quantity {item['quantity']}, expected 3")
    s.ok(f"inventory page: {len(listing['items'])} item, quantity 3", ms)

    new_barcode = gtin13(rng)
    csv = (
        "name,barcode,qty,mrp\n"
        f"Smoke Test Atta 5kg {store},{barcode},10,250.00\n"
        f"Smoke Test Dal 1kg {store},{new_barcode},4,120.50\n"
    ).encode()
    _, job, ms = s.call("POST", f"/v1/stores/{store}/imports", owner, {"content_length": len(csv)}, (201,))
    upload = job["upload"]
    s.ok(f"import {job['job_id']}: {job['status']}, upload URL {upload['url'][:60]}...", ms)
    _, _, ms = s.call(upload["method"], "", url=upload["url"], headers=upload.get("headers", {}), raw=csv, expect=(200, 204))
    s.ok(f"CSV PUT to the presigned URL ({len(csv)} bytes)", ms)

    deadline = time.time() + args.job_timeout
    waited = time.time()
    while True:
        _, view, _ = s.call("GET", f"/v1/jobs/{job['job_id']}", owner)
        if view["status"] in ("completed", "failed") or time.time() > deadline:
            break
        time.sleep(1)
    s.check(view["status"] == "completed", f"import job after {time.time() - waited:.0f} s: {view}")
    counters = {k: view[k] for k in ("total_rows", "successful", "failed", "duplicates_found")}
    s.check(counters["successful"] == 2 and counters["failed"] == 0, f"import counters: {counters}")
    s.ok(f"import completed through S3 -> SQS -> csv-import: {counters}", (time.time() - waited) * 1000)

    _, listing, ms = s.call("GET", f"/v1/stores/{store}/inventory", owner)
    item = item_of(listing, pid)
    # A stock list says what is on hand: its count replaces the scanned one.
    s.check(item is not None and str(item["quantity"]) == "10", f"after the import: {item}")
    s.check(len(listing["items"]) == 2, f"after the import, {len(listing['items'])} items: {listing}")
    s.ok("inventory page: 2 items, the scanned product at the list's 10", ms)
    if args.sms_inbox:
        access = sign_in(s, admin, store, args.sms_inbox)
        integration_key(s, store, access)
    print(f"[smoke] passed: {s.step} steps in {time.time() - started:.1f} s", flush=True)


if __name__ == "__main__":
    main()
