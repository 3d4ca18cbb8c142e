"""`make demo`: a scripted tour against a running `make local`.

Creates a merchant, a monthly plan and one mandate per simulated token, moves the local clock
three months a day at a time (one tick per day), then prints the charges with their attempts,
the events, the simulated gateway's ledger, and what it cost in AWS calls per charge with the
estimated cost per million charges. A webhook receiver on 127.0.0.1 (the merchant's server)
gets the charge and mandate events, verifies each with the `standardwebhooks` library and fails
its first request on purpose, so the retry shows too. One customer, Jonas, has an e-mail address
and a card that is refused: the demo shows the e-mail he gets, Jonas putting in another card on
his page (the form, as his browser would post it), the payment collected at the next tick, the
receipt e-mail and the receipt itself, and the notice he gets three days before each next charge.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "billing")]
from billing.domain.payment_methods import SIMULATED_TOKENS  # noqa: E402
from devtools.costs import cost_per_million  # noqa: E402

BASE = os.environ.get("BASE_URL", f"http://127.0.0.1:{os.environ.get('PORT', '3000')}")
TOKENS = list(SIMULATED_TOKENS)  # one mandate per behaviour of the simulated gateway
DAYS = 92


def call(method: str, path: str, body: Any = None, key: str | None = None) -> Any:
    request = urllib.request.Request(BASE + path, data=json.dumps(body).encode() if body is not None else None, method=method)
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        raise SystemExit(f"{method} {path} -> {error.code}: {error.read().decode()}") from None
    except urllib.error.URLError:
        raise SystemExit(f"Nothing answers at {BASE}. Start it first: make local (in another terminal).") from None


def customer_replaces_card(page_url: str) -> None:
    """Jonas opens his page (the link in his e-mail) and posts the new-card form, as a browser does."""
    path = page_url[page_url.index("/customer/") :]
    with urllib.request.urlopen(BASE + path, timeout=60) as response:
        html = response.read().decode()
    found = re.search(r'name="csrf" value="([^"]+)"', html.split('id="payment-method"')[1])
    assert found is not None, "the page offers no new payment method"
    form = urllib.parse.urlencode({"csrf": found.group(1), "payment_token": "pm_sim_ok"}).encode()
    request = urllib.request.Request(BASE + path + "/payment_method", data=form, method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    request.add_header("Origin", BASE)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any) -> None:
            return None

    try:
        urllib.request.build_opener(NoRedirect).open(request, timeout=60)
    except urllib.error.HTTPError as answer:  # the 303 back to the page
        assert answer.code == 303, answer.code


def money(amount: int, currency: str) -> str:
    return f"{amount / 100:.2f} {currency}"


def table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    print("  " + "  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  " + "  ".join("-" * w for w in widths))
    for row in rows:
        print("  " + "  ".join(str(x).ljust(w) for x, w in zip(row, widths)))


class Receiver:
    """The merchant's webhook receiver: verifies every request as a Standard Webhooks receiver
    does, answers 503 to the very first one (to show a retry), 200 afterwards."""

    def __init__(self) -> None:
        self.secret: str | None = None
        self.verified: list[dict[str, Any]] = []
        self.refused = 0
        self.requests = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                from standardwebhooks.webhooks import Webhook, WebhookVerificationError

                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.requests += 1
                try:
                    event = Webhook(receiver.secret or "").verify(body, dict(self.headers))
                except WebhookVerificationError:
                    receiver.refused += 1
                    self.send_response(400)
                else:
                    first = receiver.requests == 1
                    if not first:
                        receiver.verified.append(event)
                    self.send_response(503 if first else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"


def main() -> None:
    call("GET", "/_local/health")
    merchant = call("POST", "/_local/merchants", {"name": "Demo Fitness"})
    key = merchant["api_key"]
    receiver = Receiver()
    endpoint = call(
        "POST",
        "/v1/webhook_endpoints",
        {"url": receiver.url, "enabled_events": ["charge.succeeded", "charge.failed", "mandate.past_due", "mandate.activated"]},
        key,
    )
    receiver.secret = endpoint["secret"]
    print(f"webhook endpoint {endpoint['id']} -> {receiver.url} (the demo's own receiver, verifying every signature)")
    now = call("GET", "/_local/clock")["now"]
    now = call("POST", "/_local/clock", {"advance_seconds": 0})["now"]  # a test clock from here: it moves only when told
    plan = call(
        "POST",
        "/v1/plans",
        {"name": "Gold monthly", "amount": 1999, "currency": "EUR", "interval": "month", "retry_schedule_days": [1, 3, 7]},
        key,
    )
    print(f"merchant {merchant['merchant_id']}, plan {plan['id']} (19.99 EUR a month, retries after 1, 3, 7 days), clock {now}")
    mandates = {}
    for token in TOKENS:
        body = {
            "plan_id": plan["id"],
            "customer": {"reference": token.removeprefix("pm_sim_"), "name": token},
            "payment_method": {"gateway": "simulated", "token": token},
            "consent": {"accepted_at": now, "ip": "203.0.113.9", "user_agent": "make demo"},
        }
        mandates[token] = call("POST", "/v1/mandates", body, key)["id"]
    call("PATCH", "/v1/account", {"support_email": "help@demo-fitness.test", "legal_name": "Demo Fitness UAB"}, key)
    jonas_body = {
        "plan_id": plan["id"],
        "customer": {"reference": "jonas", "name": "Jonas", "email": "jonas@example.lt"},
        "payment_method": {"gateway": "simulated", "token": "pm_sim_expired_card"},
        "consent": {"accepted_at": now, "ip": "203.0.113.9", "user_agent": "make demo"},
    }
    jonas = call("POST", "/v1/mandates", jonas_body, key)["id"]
    call("POST", "/_local/stats/reset")
    ticks = 0
    print(f"moving the clock {DAYS} days, one tick a day ...")
    for day in range(DAYS + 1):
        if day:
            call("POST", "/_local/clock", {"advance_seconds": 86400})
        call("POST", "/_local/tick")
        ticks += 1
        if day == 0:  # Jonas's card was refused: he gets an e-mail, and puts in another card from its link
            mails = call("GET", "/_local/emails")["emails"]
            failed = next(e for e in mails if e["mandate_id"] == jonas and e["kind"] == "payment_failed")
            print(f'\nJonas\'s card was refused. He gets: "{failed["subject"]}"')
            page_url = next(line for line in failed["text"].splitlines() if "/customer/mandates/" in line).strip()
            customer_replaces_card(page_url)
            status = call("GET", f"/v1/mandates/{jonas}", key=key)["status"]
            print(f"  he opens {page_url[:64]}... and puts in another card: the mandate is {status} again\n")
    stats = call("GET", "/_local/stats")
    print(f"clock now {call('GET', '/_local/clock')['now']}\n")

    print("Mandates and their charges")
    rows = []
    attempts_total = 0
    for token, mandate_id in mandates.items():
        mandate = call("GET", f"/v1/mandates/{mandate_id}", key=key)
        charges = sorted(call("GET", f"/v1/charges?mandate_id={mandate_id}&limit=100", key=key)["data"], key=lambda c: c["cycle"])
        for charge in charges:
            attempts_total += len(charge["attempts"])
            outcomes = ", ".join(
                f"{a['at'][5:10]} {a['outcome']}{'(' + a['decline_code'] + ')' if a['decline_code'] else ''}"
                for a in charge["attempts"]
            )
            rows.append(
                [
                    token,
                    mandate["status"],
                    str(charge["cycle"]),
                    charge["due_at"][:10],
                    money(charge["amount"], charge["currency"]),
                    charge["status"],
                    outcomes,
                ]
            )
        if not charges:
            rows.append([token, mandate["status"], "-", "-", "-", "-", "-"])
    table(rows, ["token", "mandate", "cycle", "due", "amount", "charge", "attempts (date outcome)"])

    events = []
    cursor = None
    while True:
        page = call("GET", "/v1/events?limit=100" + (f"&cursor={cursor}" if cursor else ""), key=key)
        events += page["data"]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    print(f"\nEvents ({len(events)}), by type")
    table([[t, str(n)] for t, n in sorted(Counter(e["type"] for e in events).items())], ["type", "count"])

    ledger = [e for e in call("GET", "/_local/gateway/ledger")["entries"] if e["mandate_id"] in mandates.values()]
    print(f"\nSimulated gateway ledger: money taken ({len(ledger)} entries, one per idempotency key)")
    table(
        [[e["at"][:19], e["idempotency_key"], e["mandate_id"], money(e["amount"], e["currency"])] for e in ledger],
        ["at", "idempotency key (charge:attempt)", "mandate", "amount"],
    )
    keys = [e["idempotency_key"].split(":")[0] for e in ledger]
    print(f"  charged twice: {'NONE' if len(keys) == len(set(keys)) else 'YES - BUG'}")

    emails = [e for e in call("GET", "/_local/emails")["emails"] if e["mandate_id"] == jonas]
    print(f"\nE-mails Jonas got ({len(emails)}): each at most once, in his language, replying to the merchant's support address")
    table([[e["sent_at"][:10], e["kind"], e["subject"]] for e in emails], ["sent", "kind", "subject"])
    jonas_charges = call("GET", f"/v1/charges?mandate_id={jonas}&limit=100", key=key)["data"]
    first = min(jonas_charges, key=lambda c: c["cycle"])
    print(f"  his first charge: {first['status']} after {len(first['attempts'])} attempts, receipt {first['receipt_number']}:")
    print(f"  {first['receipt_url']}  (add ?format=pdf for the PDF)")

    deliveries = call("GET", f"/v1/webhook_endpoints/{endpoint['id']}/deliveries?limit=100", key=key)["data"]
    retried = [d for d in deliveries if len(d["attempts"]) > 1]
    print(
        f"\nWebhooks: the receiver verified {len(receiver.verified)} events"
        f" ({', '.join(f'{t} {n}' for t, n in sorted(Counter(e['type'] for e in receiver.verified).items()))}),"
        f" refused {receiver.refused} signatures; {len(retried)} delivery retried after its first 503:"
    )
    for d in retried:
        attempts = ", ".join(f"{a['at'][5:19]} {a['response_status'] or a['error']}" for a in d["attempts"])
        print(f"  {d['event_type']} {d['event_id']}: {attempts} -> {d['status']}")

    calls = stats["aws_calls"]
    total_calls = sum(calls.values())
    per_attempt = total_calls / max(1, attempts_total)
    print(f"\nAWS calls by the system's components over {ticks} ticks, {attempts_total} gateway attempts")
    table(
        [[name, str(count), f"{count / max(1, attempts_total):.2f}"] for name, count in calls.items()],
        ["call", "count", "per attempt"],
    )
    print(
        f"  total {total_calls} calls = {per_attempt:.2f} per attempt (the dispatcher's 64 due-index queries per tick dominate"
        " at this tiny volume, webhook deliveries included; see make bench for 1,000 due at once)"
    )
    estimate = cost_per_million(stats, attempts_total, len(events), ticks + attempts_total, max(1, attempts_total // 10), 0.05)
    print(
        f"  estimated AWS cost per 1,000,000 charges at this demo's mix: ${estimate['total']:.2f}"
        f" ({', '.join(f'{k} {v:.2f}' for k, v in estimate.items() if k != 'total')})"
    )


if __name__ == "__main__":
    main()
