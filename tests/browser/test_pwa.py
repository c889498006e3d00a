"""The web app in headless Chromium against a fresh `catalog serve` (tests/scripts/browser.sh
starts it): what a store owner, a scanner phone and an admin do on their first day.

- sign-in: an expired token is refused with a message; the store's owner (made by an admin
  through the API) signs in with the SMS code (read from the server's log, where the local
  server sends it);
- scans typed by hand: a barcode the catalog does not know (a pending product is made) and one
  it knows (from the demo catalog); the list shows both, an item's +1 and its movements;
- offline: with the network cut (Chromium's network emulation) two scans wait on the device,
  and once back online both are applied, once each (the server's quantity says so);
- the server killed: the app opens from its service worker's cache, two scans wait, and a
  restarted server over the same data applies each once;
- an import: a CSV picked in the file input, uploaded to its presigned URL, the job followed
  to the end;
- the owner pairs a scanner phone (a second browser opens the pairing link the QR code holds),
  which scans, then revokes it: at its next refresh the phone is back at sign-in, told why;
- scans left on the device by someone who signed out are offered to the next person;
- an access token that runs out is renewed with the refresh token, unseen; a session that
  cannot be renewed goes back to sign-in with the reason;
- the admin approves the pending product the unknown scan made;
- a phone's camera (Chromium's fake camera playing the QR code `catalog token --qr` prints)
  signs a second device in.

A screenshot of each screen goes to --out, and axe-core (npm, web's dev dependency) checks
each against WCAG 2.1 A and AA. Every wait has a deadline: a failure says what was
awaited and leaves a screenshot of the page as it was.
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
STORE = "asha-pune"  # made by the suite (catalog serve makes store-1 for the demo)
PHONE = "9876543210"
KNOWN = "8901058851298"  # "Maggi 2-minutes Noodles" in the demo catalog


def ean13(first12: str) -> str:
    odd = sum(int(d) for d in first12[0::2])
    even = sum(int(d) for d in first12[1::2])
    return first12 + str((10 - (odd + 3 * even) % 10) % 10)


UNKNOWN = ean13("200000" + time.strftime("%H%M%S"))


class Server:
    """`catalog serve` on a fresh data folder and a fixed loopback port (the app's origin, and so
    its service worker's, stays the same across a restart), with the demo catalog and no Open
    Food Facts lookups. Its log (info: the SMS codes are there) is appended to across starts."""

    def __init__(self, catalog: str, data: Path, log: Path):
        self.catalog, self.data, self.log = catalog, data, log
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self) -> None:
        env = dict(os.environ, OFF_BASE_URL="off", RUST_LOG="info")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [self.catalog, "serve", "--addr", f"127.0.0.1:{self.port}", "--data-dir", str(self.data), "--web-dir", str(ROOT / "web" / "dist")],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"catalog serve exited {self.proc.returncode}; its log: {self.log}")
            try:
                urllib.request.urlopen(self.base + "/v1/health", timeout=1).read()
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("catalog serve did not answer within 60 s")

    def kill(self) -> None:
        """SIGKILL, as a crash or a pulled plug would: nothing is flushed or said goodbye."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Suite:
    def __init__(self, server: Server, catalog: str, out: Path, chrome: str, driver: str):
        self.server, self.base, self.catalog, self.out, self.log = server, server.base, catalog, out, server.log
        self.chrome, self.driver = chrome, driver
        self.drivers = []

    # -- the server's side ---------------------------------------------------------------
    def token(self, *args: str) -> str:
        out = subprocess.run([self.catalog, "token", *args], check=True, capture_output=True, text=True).stdout
        return out.splitlines()[0].strip()

    def api(self, path: str, token: str, body=None):
        req = urllib.request.Request(
            self.base + path,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            data=None if body is None else json.dumps(body).encode(),
        )
        with urllib.request.urlopen(req, timeout=10) as res:
            return json.load(res)

    def sms_code(self, after: int) -> str:
        """The last sign-in code the server 'sent' (its log, past byte `after`)."""
        text = self.log.read_bytes()[after:].decode(errors="replace")
        codes = re.findall(r"SMS \(not sent[^\n]*?\b(\d{6})\b", text)
        assert codes, f"no SMS in the server's log since byte {after}"
        return codes[-1]

    def quantity(self, owner: str, barcode: str) -> str:
        products = self.api(f"/v1/products?barcode={barcode}", owner)["items"]
        assert products, f"no product has barcode {barcode}"
        pid = products[0]["product_id"]
        return self.api(f"/v1/stores/{STORE}/inventory/{pid}", owner)["quantity"]

    # -- the browser's side --------------------------------------------------------------
    def browser(self, *extra_args: str) -> webdriver.Chrome:
        opts = webdriver.ChromeOptions()
        opts.binary_location = self.chrome
        for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=360,800", *extra_args):
            opts.add_argument(a)
        d = webdriver.Chrome(service=Service(self.driver), options=opts)
        self.drivers.append(d)
        return d

    def shot(self, d, name: str) -> None:
        """A screenshot of the screen, and axe-core's WCAG 2.1 A/AA checks of it (labels,
        contrast, roles, keyboard reach): any violation fails the suite."""
        d.save_screenshot(str(self.out / f"{name}.png"))
        if not d.execute_script("return !!window.axe"):
            d.execute_script(AXE.read_text())
        violations = d.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']})"
            ".then(r => done(r.violations.map(v => `${v.id} (${v.impact}): ${v.help}: `"
            " + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))))"
        )
        assert not violations, f"{name}: accessibility violations:\n" + "\n".join(violations)

    def wait(self, d, what: str, cond, timeout: float = 15):
        try:
            return WebDriverWait(d, timeout, poll_frequency=0.1).until(lambda _: cond())
        except TimeoutException:
            d.save_screenshot(str(self.out / "failed.png"))
            body = d.find_element(By.TAG_NAME, "body").text
            raise AssertionError(f"waited {timeout} s for {what}; the page says:\n{body}") from None

    def text(self, d) -> str:
        return d.find_element(By.TAG_NAME, "body").text

    def has(self, d, css: str):
        found = d.find_elements(By.CSS_SELECTOR, css)
        return found[0] if found else None

    def click_text(self, d, tag: str, label: str) -> None:
        for el in d.find_elements(By.TAG_NAME, tag):
            # The visible label: a visually hidden part for screen readers follows on its own line.
            if el.text.strip().split("\n")[0] == label and el.is_displayed():
                el.click()
                return
        raise AssertionError(f"no {tag} labelled {label!r}; the page says:\n{self.text(d)}")

    def type_into(self, d, name: str, value: str) -> None:
        el = d.find_element(By.NAME, name)
        el.clear()
        el.send_keys(value)

    def sign_in_with_token(self, d, token: str) -> None:
        self.click_text(d, "button", "Token or pairing code")
        self.type_into(d, "token", token)
        self.click_text(d, "button", "Sign in")

    def scan(self, d, barcode: str) -> None:
        self.type_into(d, "barcode", barcode)
        self.click_text(d, "button", "Scan")

    def go(self, d, route: str) -> None:
        d.execute_script("location.hash = arguments[0]", route)

    # -- the steps -----------------------------------------------------------------------
    def run(self) -> None:
        steps = [
            self.signs_in_and_scans,
            self.scans_offline_and_syncs_each_once,
            self.opens_and_scans_while_the_server_is_down,
            self.imports_a_csv,
            self.pairs_and_revokes_a_scanner_phone,
            self.ends_an_expired_session,
            self.hands_scans_left_by_a_sign_out_to_the_next_person,
            self.admin_approves_the_pending_product,
            self.signs_in_from_the_printed_qr_code,
        ]
        self.owner = self.token("--role", "store-owner", "--store", STORE, "--sub", "owner-asha")
        # An admin makes the store and its owner, as "Signing in" in the README does.
        self.api(
            "/v1/stores",
            self.token("--role", "admin"),
            {"store_id": STORE, "name": "Asha Kirana", "region": "IN-MH", "owner": {"phone": PHONE, "display_name": "Asha"}},
        )
        self.d = self.browser()
        try:
            for step in steps:
                t = time.monotonic()
                step()
                print(f"[browser] ok {step.__name__} ({time.monotonic() - t:.1f} s)", flush=True)
        finally:
            for d in self.drivers:
                d.quit()

    def signs_in_and_scans(self) -> None:
        d = self.d
        d.get(self.base + "/")
        self.wait(d, "the sign-in screen", lambda: "Send me a code" in self.text(d))
        self.shot(d, "1-sign-in")
        expired = self.token("--role", "store-owner", "--store", STORE, "--days=-1")
        self.sign_in_with_token(d, expired)
        self.wait(d, "the expired token refused", lambda: "expired" in self.text(d))
        self.click_text(d, "button", "Phone number")
        self.type_into(d, "phone", PHONE)
        mark = self.log.stat().st_size
        self.click_text(d, "button", "Send me a code")
        self.wait(d, "the code's field", lambda: self.has(d, "input[name=code]"))
        self.type_into(d, "code", self.sms_code(mark))
        self.click_text(d, "button", "Sign in")
        self.wait(d, "the empty stock list", lambda: "No stock yet" in self.text(d))
        session = json.loads(d.execute_script("return localStorage.getItem('kirana.session')"))
        assert session["role"] == "store_owner" and session["refresh"].startswith("kcrt_"), session

        self.go(d, "#/scan")
        self.wait(d, "the scanner", lambda: self.has(d, "input[name=barcode]"))
        self.scan(d, UNKNOWN)
        self.wait(d, "the unknown barcode's scan", lambda: "new product, pending review" in self.text(d))
        self.scan(d, KNOWN)
        self.wait(d, "the known barcode's scan", lambda: "Maggi" in self.text(d))
        # A sale of more than the stock is refused, and stays listed until dismissed.
        self.click_text(d, "button", "Sell")
        self.type_into(d, "quantity", "5")
        self.scan(d, UNKNOWN)
        self.wait(d, "the refused sale", lambda: "1 scan was not applied" in self.text(d))
        self.shot(d, "2-scan")
        d.find_element(By.CSS_SELECTOR, f"button[aria-label='Dismiss the refused scan of {UNKNOWN}']").click()
        self.wait(d, "the refusal dismissed", lambda: "not applied" not in self.text(d))
        self.click_text(d, "button", "Receive")
        self.type_into(d, "quantity", "1")

        self.go(d, "#/")
        self.wait(d, "both items in the list", lambda: "Maggi" in self.text(d) and UNKNOWN in self.text(d))
        self.shot(d, "3-stock")
        self.click_text(d, "span", "Maggi 2-minutes Noodles")
        self.wait(d, "the item", lambda: "Adjust" in self.text(d))
        self.click_text(d, "button", "+1")
        self.wait(d, "the +1 applied", lambda: d.find_element(By.CSS_SELECTOR, ".stock .n").text == "2")
        self.wait(d, "the movements", lambda: "Adjusted (restock)" in self.text(d) and "Scanned" in self.text(d))
        self.shot(d, "4-item")
        assert self.quantity(self.owner, KNOWN) == "2"

    def scans_offline_and_syncs_each_once(self) -> None:
        d = self.d
        before = int(self.quantity(self.owner, KNOWN))
        self.go(d, "#/scan")
        self.wait(d, "the scanner", lambda: self.has(d, "input[name=barcode]"))
        d.set_network_conditions(offline=True, latency=0, download_throughput=0, upload_throughput=0)
        try:
            self.scan(d, KNOWN)
            self.scan(d, KNOWN)
            self.wait(d, "two scans waiting", lambda: "2 scans waiting" in d.find_element(By.CSS_SELECTOR, "[data-testid=queue]").text)
            time.sleep(1)
            assert int(self.quantity(self.owner, KNOWN)) == before, "nothing reached the server while offline"
            self.shot(d, "5-offline")
        finally:
            d.set_network_conditions(offline=False, latency=0, download_throughput=-1, upload_throughput=-1)
        self.wait(d, "the queue sent", lambda: "Every scan has been sent" in d.find_element(By.CSS_SELECTOR, "[data-testid=queue]").text, 20)
        assert int(self.quantity(self.owner, KNOWN)) == before + 2, "each offline scan counted once"
        # The service worker controls the page and keeps the shell (the page and its bundles)
        # for when the network is gone at start.
        cached = d.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "navigator.serviceWorker.ready.then(async () => {"
            "  const keys = await caches.keys(); const shell = keys.find(k => k.startsWith('shell-'));"
            "  const urls = shell ? (await (await caches.open(shell)).keys()).map(r => new URL(r.url).pathname) : [];"
            "  done({controlled: !!navigator.serviceWorker.controller, urls});"
            "});"
        )
        assert cached["controlled"] and "/" in cached["urls"], cached
        assert any(u.startswith("/assets/app-") and u.endswith(".js") for u in cached["urls"]), cached
        # Reloading sends nothing again: the queue is empty and the count stays.
        d.refresh()
        self.wait(d, "the scanner again", lambda: "Every scan has been sent" in self.text(d))
        time.sleep(1)
        assert int(self.quantity(self.owner, KNOWN)) == before + 2

    def opens_and_scans_while_the_server_is_down(self) -> None:
        """The server killed (SIGKILL): the app still opens from the service worker's cache,
        scans wait on the device, and once a new server runs over the same data they are
        applied, each once."""
        d = self.d
        before = int(self.quantity(self.owner, KNOWN))
        self.server.kill()
        try:
            self.go(d, "#/scan")
            d.refresh()
            self.wait(d, "the app opened from the cache", lambda: self.has(d, "input[name=barcode]"))
            self.scan(d, KNOWN)
            self.scan(d, KNOWN)
            self.wait(d, "two scans waiting", lambda: "2 scans waiting" in d.find_element(By.CSS_SELECTOR, "[data-testid=queue]").text)
            self.shot(d, "5b-server-down")
        finally:
            self.server.start()
        self.wait(d, "the queue sent to the restarted server", lambda: "Every scan has been sent" in self.text(d), 40)
        assert int(self.quantity(self.owner, KNOWN)) == before + 2, "each scan made while the server was down counted once"

    def imports_a_csv(self) -> None:
        d = self.d
        rows = "name,brand,size,qty,selling_price\nToor Dal,Tata Sampann,1 kg,12,180.00\nSunflower Oil,Fortune,1 l,6,145.50\n"
        with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
            f.write(rows)
        self.go(d, "#/import")
        self.wait(d, "the import screen", lambda: self.has(d, "input[type=file]"))
        d.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(f.name)
        self.click_text(d, "button", "Import")
        self.wait(d, "the job done", lambda: self.has(d, "[data-testid=job][data-status=completed]"), 30)
        self.wait(d, "its counts", lambda: "2 imported" in self.text(d))
        self.shot(d, "6-import")
        Path(f.name).unlink()

    def pairs_and_revokes_a_scanner_phone(self) -> None:
        d = self.d
        self.go(d, "#/devices")
        self.wait(d, "the devices screen", lambda: self.has(d, "input[name=device_name]"))
        self.type_into(d, "device_name", "Counter phone")
        self.click_text(d, "button", "Add")
        self.wait(d, "the pairing QR code", lambda: self.has(d, "svg.qr"))
        self.shot(d, "7-devices")
        code = d.find_element(By.CSS_SELECTOR, "[data-testid=pairing-code]").text
        assert code.startswith("kcpc_"), code

        # The phone's camera app opens the link in the QR code.
        phone = self.browser()
        phone.get(f"{self.base}/#token={code}")
        self.wait(phone, "the phone paired as a scanner", lambda: "Every scan has been sent" in self.text(phone))
        session = json.loads(phone.execute_script("return localStorage.getItem('kirana.session')"))
        assert session["role"] == "scanner" and session.get("refresh"), session
        self.scan(phone, KNOWN)
        self.wait(phone, "the phone's scan", lambda: "Maggi" in self.text(phone))

        d.refresh()
        self.wait(d, "the device paired", lambda: "paired" in self.text(d))
        d.find_element(By.CSS_SELECTOR, "button[aria-label='Revoke Counter phone']").click()
        self.wait(d, "the device revoked", lambda: "revoked" in self.text(d))
        # Its access token lasts its 15 minutes; the next refresh is refused, and the phone
        # goes back to sign-in saying why.
        phone.execute_script(
            "const s = JSON.parse(localStorage.getItem('kirana.session')); s.expiresAt = 1;"
            "localStorage.setItem('kirana.session', JSON.stringify(s)); location.reload();"
        )
        self.wait(phone, "the phone signed out", lambda: "removed from the store" in self.text(phone))
        phone.quit()
        self.drivers.remove(phone)

    def ends_an_expired_session(self) -> None:
        d = self.d
        session = lambda: json.loads(d.execute_script("return localStorage.getItem('kirana.session')") or "null")  # noqa: E731
        # The access token runs out: the refresh token renews it (and is spent for a new one).
        # (Changed and reloaded in one script: a renewal the old page started and the reload
        # cut off would spend the refresh token with nobody to keep the new one, and the next
        # use of the spent one ends the session as stolen, as the server means it to.)
        self.go(d, "#/")
        self.wait(d, "the list", lambda: "Maggi" in self.text(d))
        before = session()
        d.execute_script(
            "const s = JSON.parse(localStorage.getItem('kirana.session')); s.expiresAt = 1;"
            "localStorage.setItem('kirana.session', JSON.stringify(s)); location.reload();"
        )
        self.wait(d, "the list, renewed", lambda: "Maggi" in self.text(d) and session()["expiresAt"] > 1)
        after = session()
        assert after["expiresAt"] > 1 and after["refresh"] != before["refresh"] and after["access"] != before["access"], after
        # The server finds the access token run out sooner than this device's clock said: a
        # write (its body kept for the second try) is renewed and sent again, applied once.
        expired = self.token("--role", "store-owner", "--store", STORE, "--days=-1")
        count = int(self.quantity(self.owner, KNOWN))
        self.click_text(d, "span", "Maggi 2-minutes Noodles")
        self.wait(d, "the item", lambda: "Adjust" in self.text(d))
        d.execute_script(
            "const s = JSON.parse(localStorage.getItem('kirana.session')); s.access = arguments[0];"
            "s.expiresAt = Date.now() + 600000; localStorage.setItem('kirana.session', JSON.stringify(s));",
            expired,
        )
        self.click_text(d, "button", "+1")
        self.wait(d, "the +1 applied after a renewal", lambda: d.find_element(By.CSS_SELECTOR, ".stock .n").text == str(count + 1))
        assert int(self.quantity(self.owner, KNOWN)) == count + 1
        assert session()["access"] != expired
        # A pasted token (no refresh token) that runs out ends the session.
        d.execute_script(
            "const s = JSON.parse(localStorage.getItem('kirana.session'));"
            "s.access = arguments[0]; s.expiresAt = 1; delete s.refresh; localStorage.setItem('kirana.session', JSON.stringify(s));"
            "location.reload();",
            expired,
        )
        self.wait(d, "the sign-in screen with why", lambda: "Your sign-in has expired" in self.text(d))

    def hands_scans_left_by_a_sign_out_to_the_next_person(self) -> None:
        """Someone scans while the server is down and signs out (warned that a scan is unsent):
        the scan stays on the device, is not sent under the next person's session by itself,
        and is sent once they take it over."""
        d = self.d
        before = int(self.quantity(self.owner, KNOWN))
        self.sign_in_with_token(d, self.token("--role", "store-owner", "--store", STORE, "--sub", "shift-a"))
        self.wait(d, "the first shift signed in", lambda: "Sign out" in self.text(d))
        self.server.kill()
        try:
            self.go(d, "#/scan")
            self.wait(d, "the scanner", lambda: self.has(d, "input[name=barcode]"))
            self.scan(d, KNOWN)
            self.wait(d, "the scan waiting", lambda: "1 scan waiting" in self.text(d))
            self.click_text(d, "button", "Sign out")
            # The app asks after counting the unsent scans (an IndexedDB read): wait for it. A
            # bare `switch_to.alert` raises at once when it is not there yet.
            WebDriverWait(d, 5).until(expected_conditions.alert_is_present())
            warning = d.switch_to.alert.text
            assert "1 scan has not been sent" in warning, warning
            d.switch_to.alert.accept()
            self.wait(d, "signed out", lambda: "Send me a code" in self.text(d))
        finally:
            self.server.start()
        self.sign_in_with_token(d, self.token("--role", "store-owner", "--store", STORE, "--sub", "shift-b"))
        self.go(d, "#/scan")
        self.wait(d, "the earlier sign-in's scan offered", lambda: "1 scan from an earlier sign-in" in self.text(d))
        time.sleep(1)
        assert int(self.quantity(self.owner, KNOWN)) == before, "not sent under another person's session by itself"
        self.click_text(d, "button", "Send as mine")
        self.wait(d, "the scan sent", lambda: "Every scan has been sent" in self.text(d) and "earlier sign-in" not in self.text(d), 20)
        assert int(self.quantity(self.owner, KNOWN)) == before + 1
        self.click_text(d, "button", "Sign out")
        self.wait(d, "signed out", lambda: "Send me a code" in self.text(d))

    def admin_approves_the_pending_product(self) -> None:
        d = self.d
        self.sign_in_with_token(d, self.token("--role", "admin", "--sub", "admin-ravi"))
        self.wait(d, "the admin signed in", lambda: "Review" in self.text(d))
        self.go(d, "#/review")
        self.wait(d, "the review queue", lambda: "Scans" in self.text(d))
        self.click_text(d, "button", "Scans")
        self.wait(d, "the pending product", lambda: UNKNOWN in self.text(d))
        self.shot(d, "8-review")
        card = next(c for c in d.find_elements(By.CSS_SELECTOR, "[data-testid=pending]") if UNKNOWN in c.text)
        next(b for b in card.find_elements(By.TAG_NAME, "button") if b.text == "Approve").click()
        self.wait(d, "the approval", lambda: "Approved." in self.text(d))
        admin = self.token("--role", "admin")
        product = self.api(f"/v1/products?barcode={UNKNOWN}", admin)["items"][0]
        assert product["verification_status"] == "approved", product
        history = self.api(f"/v1/products/{product['product_id']}/history", admin)["items"]
        assert history[0]["action"] == "approved" and history[0]["actor"]["sub"] == "admin-ravi", history[0]

    def signs_in_from_the_printed_qr_code(self) -> None:
        # The QR code as the terminal shows it, turned back into pixels: each character is a
        # module wide and two tall; a block is light, a space dark (drawn for a dark terminal).
        printed = subprocess.run(
            [self.catalog, "token", "--role", "scanner", "--store", STORE, "--sub", "phone-2", "--qr", "--url", self.base],
            check=True, capture_output=True, text=True,
        ).stdout.splitlines()
        art = [line for line in printed if line and set(line) <= set("█▀▄ ")]
        light = {"█": (1, 1), "▀": (1, 0), "▄": (0, 1), " ": (0, 0)}
        modules = []
        for line in art:
            top, bottom = zip(*(light[c] for c in line))
            modules += [top, bottom]
        scale, w, h = 5, 640, 480
        size = len(modules[0]) * scale
        assert size <= w and len(modules) * scale <= h, "the QR code fits the camera's frame"
        y_plane = bytearray([255] * (w * h))
        x0, y0 = (w - size) // 2, (h - len(modules) * scale) // 2
        for r, row in enumerate(modules):
            for c, on in enumerate(row):
                if not on:
                    for dy in range(scale):
                        start = (y0 + r * scale + dy) * w + x0 + c * scale
                        y_plane[start : start + scale] = bytes(scale)
        video = self.out / "qr.y4m"
        with open(video, "wb") as f:
            f.write(f"YUV4MPEG2 W{w} H{h} F5:1 Ip A1:1 C420jpeg\n".encode())
            for _ in range(2):
                f.write(b"FRAME\n" + bytes(y_plane) + bytes([128] * (w * h // 2)))

        phone = self.browser(
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", f"--use-file-for-fake-video-capture={video}"
        )
        phone.get(self.base + "/")
        self.wait(phone, "the sign-in screen", lambda: "Token or pairing code" in self.text(phone))
        self.click_text(phone, "button", "Token or pairing code")
        self.click_text(phone, "button", "Scan a QR code")
        self.wait(phone, "signed in from the camera", lambda: "Every scan has been sent" in self.text(phone), 30)
        self.shot(phone, "9-scanner-signed-in-by-qr")
        session = json.loads(phone.execute_script("return localStorage.getItem('kirana.session')"))
        assert session["role"] == "scanner" and session["sub"] == "phone-2", session
        native = phone.execute_script("return 'BarcodeDetector' in window")
        print(f"[browser] the camera read the QR code with {'the native BarcodeDetector' if native else 'zxing-wasm'}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--catalog", required=True, help="the catalog binary (serve and token)")
    ap.add_argument("--out", required=True, type=Path, help="screenshots and the server's log")
    ap.add_argument("--chrome", default="/usr/bin/chromium", help="the browser's binary")
    ap.add_argument("--driver", default="/usr/bin/chromedriver", help="its WebDriver")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    t = time.monotonic()
    with tempfile.TemporaryDirectory() as data:
        server = Server(a.catalog, Path(data), a.out / "serve.log")
        server.start()
        try:
            Suite(server, a.catalog, a.out, a.chrome, a.driver).run()
        finally:
            server.kill()
    print(f"[browser] all passed in {time.monotonic() - t:.1f} s", flush=True)


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"[browser] FAILED: {e}", file=sys.stderr)
        sys.exit(1)
