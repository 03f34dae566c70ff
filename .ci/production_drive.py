"""Drive one export through the production set of processes, over HTTP only, as people would.

Started by .ci/production_stage.sh once gunicorn, the workers, beat and the SMTP server run.
The account manager files a request (demo source), sends the addendum, uploads the signed
addendum and records the fee; the data team claims it, connects the demo source, starts the
export, approves it and waits for delivery; the account manager reveals the archive password.
Sign-in uses the password and a TOTP code computed from the key seed_demo printed, as a phone
app would. Then the emails must have reached the SMTP server, and /healthz must say ok.

Plain HTTP to gunicorn on loopback stands in for the TLS proxy in front of it: every request
carries ``X-Forwarded-Proto: https`` (what the proxy adds), and the portal's Secure cookies
are sent back over this one hop, as the proxy would.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import mailbox
import re
import sys
import time
from base64 import b32decode
from pathlib import Path

import httpx
from django_otp.oath import TOTP
from fpdf import FPDF

POLL_SECONDS = 1.0
POC_EMAIL = "stage.poc@example.org"


def log(message: str) -> None:
    print(f"[drive {time.strftime('%H:%M:%S')}] {message}", flush=True)


def fail(message: str) -> None:
    raise SystemExit(f"production stage: {message}")


def read_logins(seed_output: Path) -> dict[str, tuple[str, str]]:
    """username -> (password, authenticator key) from seed_demo's printout."""
    logins = {}
    for line in seed_output.read_text().splitlines():
        found = re.search(r"(\w+)\s+(\S+)\s+authenticator key ([A-Z2-7]+)", line)
        if found:
            logins[found[1]] = (found[2], found[3])
    return logins


class Person:
    """One person's browser session: a cookie jar, the CSRF token from the last form page."""

    def __init__(self, base_url: str, username: str, password: str, key: str) -> None:
        self.base_url = base_url
        self.username, self.password, self.key = username, password, key
        self.http = httpx.Client(
            base_url=base_url,
            headers={"X-Forwarded-Proto": "https"},
            event_hooks={"response": [self._keep_secure_cookies_on_this_hop]},
            timeout=30,
        )
        self.origin = "https://" + httpx.URL(base_url).netloc.decode()

    def _keep_secure_cookies_on_this_hop(self, response: httpx.Response) -> None:
        """The jar would keep Secure cookies off plain HTTP; this hop is the proxy's."""
        for cookie in self.http.cookies.jar:
            cookie.secure = False

    def code(self) -> str:
        totp = TOTP(b32decode(self.key))
        return f"{totp.token():06d}"

    def get(self, path: str) -> httpx.Response:
        response = self.http.get(path)
        if response.status_code >= 400:
            fail(f"GET {path} answered {response.status_code}")
        return response

    def post(self, path: str, data: dict, *, form_page: str, files=None) -> httpx.Response:
        """POST as the form on ``form_page`` would, with its CSRF token and our Origin."""
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', self.get(form_page).text)
        if token is None:
            fail(f"no CSRF token on {form_page}")
        response = self.http.post(
            path,
            data={"csrfmiddlewaretoken": token[1], **data},
            files=files,
            headers={"Origin": self.origin, "Referer": self.base_url + form_page},
        )
        if response.status_code >= 400:
            fail(f"POST {path} answered {response.status_code}")
        return response

    def sign_in(self) -> None:
        answer = self.post(
            "/login/",
            {"username": self.username, "password": self.password},
            form_page="/login/",
        )
        if answer.status_code != 302:
            fail(f"{self.username}: the password was refused")
        asked = self.http.get(answer.headers["location"])
        if not asked.headers.get("location", "").startswith("/login/verify/"):
            fail(f"{self.username}: a password alone was let in")
        answer = self.post("/login/verify/", {"code": self.code()}, form_page="/login/verify/")
        if answer.status_code != 302 or "/login/" in answer.headers.get("location", ""):
            fail(f"{self.username}: the code was refused")
        log(f"{self.username} signed in with a password and a TOTP code")

    def act(self, pk: int, action: str, data: dict | None = None, files=None) -> str:
        """Press one of the request page's buttons; returns the page it leads back to."""
        page = f"/requests/{pk}/"
        fields = {f"{action}-{name}": value for name, value in (data or {}).items()}
        files = {f"{action}-{name}": value for name, value in (files or {}).items()} or None
        answer = self.post(f"{page}actions/{action}/", fields, form_page=page, files=files)
        if answer.headers.get("location") != page:
            fail(f"{action}: unexpected answer {answer.status_code}")
        text = self.get(page).text
        refused = re.search(r'<ul class="messages".*?<li class="error">([^<]+)', text, re.DOTALL)
        if refused:
            fail(f"{action} refused: {refused[1].strip()}")
        log(f"{self.username}: {action} -> {status_of(text)}")
        return text


def status_of(page: str) -> str:
    found = re.search(r"<dt>Status</dt><dd>([^<]+)", page)
    return found[1].strip() if found else "?"


def wait_for_status(person: Person, pk: int, wanted: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    status = "?"
    while time.monotonic() < deadline:
        status = status_of(person.get(f"/requests/{pk}/").text)
        if status == wanted:
            log(f"request {pk} is {wanted}")
            return
        if status == "Failed":
            fail(f"request {pk} failed in the pipeline")
        time.sleep(POLL_SECONDS)
    fail(f"request {pk} still {status!r} after {timeout:.0f} s, waiting for {wanted!r}")


def signed_addendum() -> tuple[str, bytes, str]:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 8, "Data export addendum\nSigned by the practice's authorised signer.")
    return ("signed-addendum.pdf", bytes(pdf.output()), "application/pdf")


def file_request(manager: Person) -> int:
    form = manager.get("/requests/new/").text
    practice = re.search(r'<option value="(\d+)"', form)
    categories = re.findall(r'name="categories" value="([^"]+)"', form)
    if practice is None or not categories:
        fail("the filing form offers no practice or no categories")
    filing = {
        "practice": practice[1],
        "poc_name": "Stage Contact",
        "poc_email": POC_EMAIL,
        "poc_phone": "+1 555 0199",
        "categories": categories,
        "custom_requirements": "",
        "fee_amount": "1200",
        "fee_currency": "USD",
    }
    answer = manager.post("/requests/new/", filing, form_page="/requests/new/")
    if 'name="file_anyway"' in answer.text:
        # The practice has an open request already (the demo's): file another, deliberately.
        filing["file_anyway"] = "on"
        answer = manager.post("/requests/new/", filing, form_page="/requests/new/")
    found = re.fullmatch(r"/requests/(\d+)/", answer.headers.get("location", ""))
    if found is None:
        fail("filing the request did not lead to its page")
    log(f"{manager.username} filed request {found[1]}")
    return int(found[1])


def received_emails(maildir: Path, expected: dict[str, str], timeout: float) -> None:
    """Wait until every (recipient -> subject fragment) in ``expected`` arrived by SMTP, and
    nothing else did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        arrived = [
            email.message_from_bytes(bytes(message), policy=email.policy.default)
            for message in mailbox.Maildir(maildir, factory=None, create=False)
        ]
        if len(arrived) >= len(expected):
            break
        time.sleep(POLL_SECONDS)
    received = [(str(message["To"]), str(message["Subject"])) for message in arrived]
    for recipient, subject in expected.items():
        if not any(recipient in to and subject in about for to, about in received):
            fail(f"no email to {recipient} about {subject!r} arrived by SMTP: {received}")
        log(f"email to {recipient} about {subject!r} arrived by SMTP")
    if len(arrived) != len(expected):
        fail(f"{len(arrived)} emails arrived by SMTP, {len(expected)} expected: {received}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--logins", type=Path, required=True, help="seed_demo's output")
    parser.add_argument("--maildir", type=Path, required=True)
    parser.add_argument("--timeout", type=float, default=120)
    options = parser.parse_args()
    logins = read_logins(options.logins)
    manager = Person(options.base_url, "avery", *logins["avery"])
    member = Person(options.base_url, "dana", *logins["dana"])

    health = httpx.get(options.base_url + "/healthz", timeout=10)
    if health.status_code != 200 or health.json()["status"] != "ok":
        fail(f"/healthz before the export: {health.status_code} {health.text}")

    manager.sign_in()
    pk = file_request(manager)
    manager.act(pk, "send-addendum", {"note": ""})
    manager.act(pk, "signed-addendum", files={"signed_addendum": signed_addendum()})
    manager.act(pk, "fee", {"amount": "1200", "currency": "USD", "invoice_reference": "INV-S1"})

    member.sign_in()
    member.act(pk, "claim")
    member.act(pk, "connect-demo", {"patients": "10", "seed": "7"})
    member.act(pk, "test-connection")
    member.act(pk, "start-extraction")
    wait_for_status(member, pk, "Awaiting review", options.timeout)
    member.act(pk, "approve-delivery", {"acknowledge_failures": "on"})
    wait_for_status(member, pk, "Delivered", options.timeout)

    passwords = manager.post(f"/requests/{pk}/passwords/", {}, form_page=f"/requests/{pk}/")
    if not re.search(r'data-testid="archive-password">[a-z]+(-[a-z]+){6}<', passwords.text):
        fail("the account manager could not reveal the archive password")
    log("avery revealed the archive password")

    reference = f"EXP-{pk:06d}"
    received_emails(
        options.maildir,
        {
            "dana@example.com": f"{reference} is ready to claim",
            "avery@example.com": f"{reference} delivered",
            POC_EMAIL: "is ready to download",
        },
        options.timeout,
    )
    health = httpx.get(options.base_url + "/healthz", timeout=10).json()
    if health["status"] != "ok":
        fail(f"/healthz after the export: {health}")
    log("the export went from filing to delivery; the emails arrived; /healthz says ok")


if __name__ == "__main__":
    sys.exit(main())
