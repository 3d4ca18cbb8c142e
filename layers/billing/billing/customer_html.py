"""Server-rendered HTML of the customer's page, in English and Lithuanian.

Every value that comes from data is escaped (`_e`); there is no JavaScript for the simulated
gateway, and the only inline style carries the response's CSP nonce.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Literal

from .domain.money import CURRENCY_EXPONENT
from .domain.payment_methods import SIMULATED_TOKENS

if TYPE_CHECKING:
    from .service.customer_portal import CustomerView

Lang = Literal["en", "lt"]

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Recurring payment",
        "asks": "{merchant} asks for your permission to charge you regularly.",
        "yours": "Your recurring payment to {merchant}",
        "every": "every",
        "interval.day": "day|days",
        "interval.week": "week|weeks",
        "interval.month": "month|months",
        "interval.year": "year|years",
        "amount": "Amount",
        "schedule": "How often",
        "trial": "Free trial",
        "trial_days": "{n} days",
        "first": "First charge",
        "next": "Next charges",
        "ends": "Ends",
        "ends_cycles": "after {n} payments",
        "ends_date": "on {date}",
        "ends_never": "when you or the merchant stop it",
        "terms": "Terms",
        "terms_text": "You allow {merchant} to charge the payment method below {amount} {schedule}, on the dates shown, until you revoke this permission, the merchant cancels it, or it ends. Failed payments may be retried within 60 days of their due date. You can revoke at any time from this page.",
        "method": "Payment method",
        "test_cards": "Test cards (simulated gateway)",
        "card": "Card",
        "card_not_confirmed": "Your card could not be confirmed. Please enter it again.",
        "card.pm_sim_ok": "Always succeeds",
        "card.pm_sim_insufficient_funds": "Insufficient funds (soft decline)",
        "card.pm_sim_expired_card": "Expired card (hard decline)",
        "card.pm_sim_fail_once": "Fails once, then succeeds",
        "card.pm_sim_timeout": "Gateway times out (money taken)",
        "card.pm_sim_error": "Gateway error",
        "card.pm_sim_rejected": "Rejected by the gateway (hard failure)",
        "method_unavailable": "This payment method cannot be used here. Please contact the merchant.",
        "consent": "I allow {merchant} to charge me on these terms.",
        "approve": "Approve",
        "status": "Status",
        "status.pending_approval": "Waiting for your approval",
        "status.active": "Active",
        "status.paused": "Paused",
        "status.past_due": "Payment failed: the merchant will contact you",
        "status.cancelled": "Cancelled by the merchant",
        "status.revoked": "Revoked",
        "status.completed": "Completed",
        "past": "Past charges",
        "none": "None yet.",
        "date": "Date",
        "result": "Result",
        "charge.pending": "Processing",
        "charge.retrying": "Will be retried",
        "charge.succeeded": "Paid",
        "charge.failed": "Failed",
        "charge.cancelled": "Cancelled",
        "revoke": "Revoke permission",
        "revoke_q": "Stop all future payments to {merchant}?",
        "revoke_text": "No further charge will be made under this permission. The merchant is told at once.",
        "revoke_yes": "Yes, revoke",
        "back": "Back",
        "approved": "Thank you. Your permission is recorded.",
        "revoked_done": "Your permission is revoked. No further charges will be made.",
        "invalid": "This link is not valid.",
        "invalid_text": "Check that you opened the whole link from the merchant's message.",
        "expired": "This link has expired.",
        "expired_text": "Approval links are valid for 7 days. Ask {merchant} for a new one.",
        "changed": "The terms changed while this page was open. Please review them again.",
        "forbidden": "This form expired or did not come from this page. Please try again.",
        "choose": "Choose a payment method and tick the box to approve.",
        "lang": "Kalba: lietuvių",
    },
    "lt": {
        "title": "Periodinis mokėjimas",
        "asks": "{merchant} prašo jūsų leidimo reguliariai nuskaityti mokėjimus.",
        "yours": "Jūsų periodinis mokėjimas: {merchant}",
        "every": "kas",
        "interval.day": "dieną|dienas",
        "interval.week": "savaitę|savaites",
        "interval.month": "mėnesį|mėnesius",
        "interval.year": "metus|metus",
        "amount": "Suma",
        "schedule": "Kaip dažnai",
        "trial": "Nemokamas laikotarpis",
        "trial_days": "{n} d.",
        "first": "Pirmas mokėjimas",
        "next": "Kiti mokėjimai",
        "ends": "Pabaiga",
        "ends_cycles": "po {n} mokėjimų",
        "ends_date": "{date}",
        "ends_never": "kai jūs arba prekybininkas sustabdys",
        "terms": "Sąlygos",
        "terms_text": "Leidžiate {merchant} nuskaityti {amount} {schedule} nuo žemiau nurodytos mokėjimo priemonės nurodytomis dienomis, kol atšauksite šį leidimą, prekybininkas jį nutrauks arba jis baigsis. Nepavykę mokėjimai gali būti kartojami per 60 dienų nuo mokėjimo dienos. Leidimą galite atšaukti bet kada šiame puslapyje.",
        "method": "Mokėjimo priemonė",
        "test_cards": "Bandomosios kortelės (imituojamas mokėjimų tarpininkas)",
        "card": "Kortelė",
        "card_not_confirmed": "Nepavyko patvirtinti kortelės. Įveskite ją dar kartą.",
        "card.pm_sim_ok": "Visada pavyksta",
        "card.pm_sim_insufficient_funds": "Nepakanka lėšų (laikinas atmetimas)",
        "card.pm_sim_expired_card": "Pasibaigęs kortelės galiojimas (galutinis atmetimas)",
        "card.pm_sim_fail_once": "Vieną kartą nepavyksta, po to pavyksta",
        "card.pm_sim_timeout": "Tarpininkas neatsako laiku (lėšos nuskaitytos)",
        "card.pm_sim_error": "Tarpininko klaida",
        "card.pm_sim_rejected": "Tarpininkas atmeta mokėjimo būdą (galutinė klaida)",
        "method_unavailable": "Šio mokėjimo būdo čia naudoti negalima. Susisiekite su prekybininku.",
        "consent": "Leidžiu {merchant} nuskaityti mokėjimus šiomis sąlygomis.",
        "approve": "Patvirtinti",
        "status": "Būsena",
        "status.pending_approval": "Laukiama jūsų patvirtinimo",
        "status.active": "Galioja",
        "status.paused": "Sustabdyta",
        "status.past_due": "Mokėjimas nepavyko: prekybininkas su jumis susisieks",
        "status.cancelled": "Nutraukė prekybininkas",
        "status.revoked": "Atšaukta",
        "status.completed": "Baigta",
        "past": "Ankstesni mokėjimai",
        "none": "Kol kas nėra.",
        "date": "Data",
        "result": "Rezultatas",
        "charge.pending": "Vykdoma",
        "charge.retrying": "Bus kartojama",
        "charge.succeeded": "Apmokėta",
        "charge.failed": "Nepavyko",
        "charge.cancelled": "Atšaukta",
        "revoke": "Atšaukti leidimą",
        "revoke_q": "Sustabdyti visus būsimus mokėjimus {merchant}?",
        "revoke_text": "Pagal šį leidimą daugiau mokėjimų nebus nuskaityta. Prekybininkas bus informuotas iškart.",
        "revoke_yes": "Taip, atšaukti",
        "back": "Atgal",
        "approved": "Ačiū. Jūsų leidimas užregistruotas.",
        "revoked_done": "Jūsų leidimas atšauktas. Daugiau mokėjimų nebus nuskaityta.",
        "invalid": "Ši nuoroda negalioja.",
        "invalid_text": "Patikrinkite, ar atidarėte visą nuorodą iš prekybininko laiško.",
        "expired": "Šios nuorodos galiojimas baigėsi.",
        "expired_text": "Patvirtinimo nuorodos galioja 7 dienas. Paprašykite {merchant} naujos.",
        "changed": "Kol puslapis buvo atidarytas, sąlygos pasikeitė. Peržiūrėkite jas dar kartą.",
        "forbidden": "Forma nebegalioja arba atsiųsta ne iš šio puslapio. Bandykite dar kartą.",
        "choose": "Pasirinkite mokėjimo priemonę ir pažymėkite laukelį.",
        "lang": "Language: English",
    },
}

STYLE = """
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a1a1a;background:#f5f6f8}
main{max-width:40rem;margin:0 auto;padding:1rem}section{background:#fff;border-radius:.5rem;padding:1rem 1.25rem;margin:0 0 1rem;box-shadow:0 1px 2px #0002}
h1{font-size:1.4rem;margin:.5rem 0 1rem}h2{font-size:1.1rem;margin:0 0 .5rem}dl{display:grid;grid-template-columns:auto 1fr;gap:.25rem 1rem;margin:0}
dt{color:#555}dd{margin:0;font-weight:600}table{width:100%;border-collapse:collapse}td,th{text-align:left;padding:.35rem .25rem;border-bottom:1px solid #eee}
fieldset{border:1px solid #ddd;border-radius:.4rem;margin:0 0 1rem;padding:.5rem 1rem}label{display:block;padding:.35rem 0;cursor:pointer}
button{font:inherit;font-weight:600;padding:.7rem 1.2rem;border-radius:.4rem;border:0;background:#0b5cff;color:#fff;cursor:pointer;min-height:44px}
button.danger{background:#c62828}a.button{display:inline-block;padding:.7rem 1.2rem}
:focus-visible{outline:3px solid #ffb300;outline-offset:2px}.note{color:#555;font-size:.9rem}.notice{background:#e8f5e9;padding:.75rem 1rem;border-radius:.4rem}
.error{background:#fdecea;padding:.75rem 1rem;border-radius:.4rem}nav{text-align:right;font-size:.9rem}
"""


def pick_language(query: str | None, accept_language: str | None) -> Lang:
    if query in ("en", "lt"):
        return query  # type: ignore[return-value]
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in ("en", "lt"):
            return code  # type: ignore[return-value]
    return "en"


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def text(lang: Lang, key: str, **values: object) -> str:
    """Translated text with escaped values."""
    return _e(TEXT[lang][key]).format(**{k: _e(v) for k, v in values.items()})


def money(amount: int, currency: str, lang: Lang) -> str:
    exponent = CURRENCY_EXPONENT.get(currency, 2)
    number = f"{amount / 10**exponent:,.{exponent}f}"
    if lang == "lt":
        return f"{number.replace(',', ' ').replace('.', ',')} {currency}"
    return f"{currency} {number}"


def day(moment: datetime, lang: Lang) -> str:
    return moment.strftime("%Y-%m-%d")


def schedule_text(interval: str, count: int, lang: Lang) -> str:
    one, many = TEXT[lang][f"interval.{interval}"].split("|")
    return f"{TEXT[lang]['every']} {one}" if count == 1 else f"{TEXT[lang]['every']} {count} {many}"


def document(lang: Lang, nonce: str, body: str, switch_href: str | None = None) -> str:
    switch = (
        f'<nav><a href="{_e(switch_href)}" lang="{"lt" if lang == "en" else "en"}">{text(lang, "lang")}</a></nav>'
        if switch_href
        else ""
    )
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="referrer" content="same-origin"><title>{text(lang, "title")}</title>'
        f'<style nonce="{_e(nonce)}">{STYLE}</style></head><body><main>{switch}{body}</main></body></html>'
    )


def message(lang: Lang, nonce: str, heading: str, text: str = "") -> str:
    return document(lang, nonce, f"<section><h1>{heading}</h1><p>{text}</p></section>")


STRIPE_JS = "https://js.stripe.com/v3/"
# Mounts Stripe's card field; on submit confirms the SetupIntent in the browser, then posts the form.
STRIPE_SCRIPT = (
    "(function(){var f=document.getElementById('approve');var s=Stripe(f.dataset.pk);"
    "var c=s.elements().create('card');c.mount('#card');var ok=false;"
    "f.addEventListener('submit',function(e){if(ok)return;e.preventDefault();"
    "s.confirmCardSetup(f.dataset.secret,{payment_method:{card:c}}).then(function(r){"
    "if(r.error){document.getElementById('card-errors').textContent=r.error.message;}else{ok=true;f.submit();}});});})();"
)


def content_security_policy(nonce: str, stripe: bool) -> str:
    """Strict by default; with Stripe, exactly what Stripe.js needs (its script, frames and API)."""
    policy = f"default-src 'none'; style-src 'nonce-{nonce}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    if stripe:
        policy += (
            f"; script-src 'nonce-{nonce}' https://js.stripe.com; frame-src https://js.stripe.com https://hooks.stripe.com; "
            "connect-src https://api.stripe.com"
        )
    return policy


def mandate_page(
    view: CustomerView,
    lang: Lang,
    nonce: str,
    base: str,
    csrf: dict[str, str],
    notice: str = "",
    error: str = "",  # noqa: ANN001
    stripe: dict[str, str] | None = None,
) -> str:
    """`view` is a CustomerView; `base` the link's path; `csrf` tokens per form action; `stripe`
    (publishable_key, client_secret, id) switches the payment step to Stripe.js."""
    m, merchant = view.mandate, view.merchant_name
    terms = m.terms
    amount = money(terms.amount, terms.currency, lang)
    every = schedule_text(terms.interval, terms.interval_count, lang)
    ends = (
        text(lang, "ends_cycles", n=terms.total_cycles)
        if terms.total_cycles
        else text(lang, "ends_date", date=day(m.end_at, lang))
        if m.end_at
        else text(lang, "ends_never")
    )
    parts = [f"<h1>{text(lang, 'asks' if m.status == 'pending_approval' else 'yours', merchant=merchant)}</h1>"]
    if notice:
        parts.append(f'<p class="notice" role="status">{notice}</p>')
    if error:
        parts.append(f'<p class="error" role="alert">{error}</p>')
    rows = [
        (text(lang, "status"), text(lang, f"status.{m.status}")),
        (text(lang, "amount"), _e(amount)),
        (text(lang, "schedule"), _e(every)),
    ]
    if terms.trial_days and m.status == "pending_approval":
        rows.append((text(lang, "trial"), text(lang, "trial_days", n=terms.trial_days)))
    if view.upcoming:
        rows.append(
            (text(lang, "first") if m.status == "pending_approval" else text(lang, "next"), _e(day(view.upcoming[0][1], lang)))
        )
    rows.append((text(lang, "ends"), ends))
    parts.append("<section><dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + "</dl></section>")
    if view.upcoming:
        items = "".join(f"<li>{_e(day(due, lang))}: {_e(amount)}</li>" for _, due in view.upcoming)
        parts.append(f"<section><h2>{text(lang, 'next')}</h2><ul>{items}</ul></section>")
    if m.status == "pending_approval":
        if stripe:
            method = (
                f'<fieldset><legend>{text(lang, "method")}: {text(lang, "card")}</legend><div id="card"></div>'
                f'<p id="card-errors" class="note" role="alert"></p></fieldset>'
                f'<input type="hidden" name="setup_intent" value="{_e(stripe["id"])}">'
            )
            form_attributes = (
                f' id="approve" data-pk="{_e(stripe["publishable_key"])}" data-secret="{_e(stripe["client_secret"])}"'
            )
            scripts = (
                f'<script nonce="{_e(nonce)}" src="{STRIPE_JS}"></script><script nonce="{_e(nonce)}">{STRIPE_SCRIPT}</script>'
            )
        else:
            cards = "".join(
                f'<label><input type="radio" name="payment_token" value="{_e(token)}" required{" checked" if i == 0 else ""}> '
                f'{text(lang, "card." + token)} <span class="note">({_e(token)})</span></label>'
                for i, token in enumerate(SIMULATED_TOKENS)
            )
            method = f"<fieldset><legend>{text(lang, 'method')}: {text(lang, 'test_cards')}</legend>{cards}</fieldset>"
            form_attributes, scripts = "", ""
        parts.append(
            f"<section><h2>{text(lang, 'terms')}</h2><p>{text(lang, 'terms_text', merchant=merchant, amount=amount, schedule=every)}</p>"
            f'<form method="post" action="{_e(base)}/approve?lang={lang}"{form_attributes}>'
            f'<input type="hidden" name="csrf" value="{_e(csrf["approve"])}">'
            f'<input type="hidden" name="terms_sha256" value="{_e(view.terms_sha256)}">'
            f"{method}"
            f'<label><input type="checkbox" name="consent" value="yes" required> {text(lang, "consent", merchant=merchant)}</label>'
            f'<p><button type="submit">{text(lang, "approve")}</button></p></form></section>{scripts}'
        )
    else:
        if view.charges:
            lines = "".join(
                f"<tr><td>{_e(day(c.due_at, lang))}</td><td>{_e(money(c.amount, c.currency, lang))}</td><td>{text(lang, 'charge.' + c.status)}</td></tr>"
                for c in view.charges
            )
            table = f"<table><thead><tr><th>{text(lang, 'date')}</th><th>{text(lang, 'amount')}</th><th>{text(lang, 'result')}</th></tr></thead><tbody>{lines}</tbody></table>"
        else:
            table = f"<p>{text(lang, 'none')}</p>"
        parts.append(f"<section><h2>{text(lang, 'past')}</h2>{table}</section>")
        if m.may_be_stopped and not m.awaiting_approval:  # awaiting approval, the page offers approval instead
            parts.append(
                f'<section><p><a class="button" href="{_e(base)}/revoke?lang={lang}">{text(lang, "revoke")}</a></p></section>'
            )
    other = "lt" if lang == "en" else "en"
    return document(lang, nonce, "".join(parts), switch_href=f"{base}?lang={other}")


def revoke_page(view: CustomerView, lang: Lang, nonce: str, base: str, csrf: str) -> str:
    merchant = view.merchant_name
    body = (
        f"<section><h1>{text(lang, 'revoke_q', merchant=merchant)}</h1><p>{text(lang, 'revoke_text')}</p>"
        f'<form method="post" action="{_e(base)}/revoke?lang={lang}"><input type="hidden" name="csrf" value="{_e(csrf)}">'
        f'<p><button class="danger" type="submit">{text(lang, "revoke_yes")}</button> '
        f'<a class="button" href="{_e(base)}?lang={lang}">{text(lang, "back")}</a></p></form></section>'
    )
    return document(lang, nonce, body)
