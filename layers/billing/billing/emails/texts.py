"""What each e-mail says, in English and Lithuanian (plain text: the templates escape it)."""

from __future__ import annotations

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "mandate_activated.subject": "{merchant}: your payments are set up",
        "mandate_activated.lead": "You allowed {merchant} to charge {amount} {every}.",
        "mandate_activated.first": "The first payment is due on {date}.",
        "mandate_activated.revoke": "You can see your payments, change your payment method or withdraw this permission at any time on your page:",
        "mandate_ended.subject": "{merchant}: your payments have stopped",
        "mandate_ended.cancelled": "{merchant} has stopped collecting payments from you.",
        "mandate_ended.revoked": "Your permission for {merchant} to collect payments is withdrawn. Nothing more will be charged.",
        "mandate_ended.completed": "All payments to {merchant} under this agreement are done. Nothing more will be charged.",
        "payment_failed.subject": "{merchant}: your payment of {amount} did not go through",
        "payment_failed.lead": "We could not collect {amount} for {merchant}: {reason}.",
        "payment_failed.retry": "We will try again on {date}.",
        "payment_failed.final": "We will not try again on our own.",
        "payment_failed.fix": "To pay, put in another payment method on your page:",
        "receipt.subject": "{merchant}: receipt {number}",
        "receipt.lead": "Thank you: {amount} was paid to {merchant} on {date}.",
        "receipt.link": "Your receipt (with a PDF copy):",
        "upcoming_charge.subject": "{merchant}: {amount} will be charged on {date}",
        "upcoming_charge.lead": "On {date} {merchant} will charge {amount} to {method}.",
        "trial_ending.subject": "{merchant}: your trial ends on {date}",
        "trial_ending.lead": "Your trial ends on {date}; then {merchant} will charge {amount} {every}.",
        "page": "Your page: {url}",
        "manage": "See or change your payments, or withdraw your permission, on your page:",
        "support": "Questions? Reply to this e-mail or write to {email}.",
        "footer": "You get this e-mail because you allowed {merchant} to charge you.",
        "open_page": "Open your page",
        "open_receipt": "Open the receipt",
        "reason.insufficient_funds": "there were not enough funds",
        "reason.expired_card": "the card has expired",
        "reason.invalid_account": "the account or card is not valid any more",
        "reason.fraudulent": "the bank refused the payment",
        "reason.authentication_required": "your bank asks you to confirm the payment",
        "reason.gateway_rejected": "the payment method was not accepted",
        "reason.other": "the payment was declined",
    },
    "lt": {
        "mandate_activated.subject": "{merchant}: mokėjimai nustatyti",
        "mandate_activated.lead": "Leidote {merchant} nuskaityti {amount} {every}.",
        "mandate_activated.first": "Pirmasis mokėjimas – {date}.",
        "mandate_activated.revoke": "Savo puslapyje galite matyti mokėjimus, pakeisti mokėjimo būdą arba bet kada atšaukti šį leidimą:",
        "mandate_ended.subject": "{merchant}: mokėjimai sustabdyti",
        "mandate_ended.cancelled": "{merchant} nebenuskaitys iš jūsų mokėjimų.",
        "mandate_ended.revoked": "Jūsų leidimas {merchant} nuskaityti mokėjimus atšauktas. Daugiau nieko nebus nuskaityta.",
        "mandate_ended.completed": "Visi mokėjimai {merchant} pagal šį susitarimą atlikti. Daugiau nieko nebus nuskaityta.",
        "payment_failed.subject": "{merchant}: jūsų {amount} mokėjimas nepavyko",
        "payment_failed.lead": "Nepavyko nuskaityti {amount} {merchant}: {reason}.",
        "payment_failed.retry": "Bandysime dar kartą {date}.",
        "payment_failed.final": "Patys daugiau nebandysime.",
        "payment_failed.fix": "Norėdami sumokėti, savo puslapyje nurodykite kitą mokėjimo būdą:",
        "receipt.subject": "{merchant}: kvitas {number}",
        "receipt.lead": "Ačiū: {date} {merchant} sumokėta {amount}.",
        "receipt.link": "Jūsų kvitas (su PDF kopija):",
        "upcoming_charge.subject": "{merchant}: {date} bus nuskaityta {amount}",
        "upcoming_charge.lead": "{date} {merchant} nuskaitys {amount} iš {method}.",
        "trial_ending.subject": "{merchant}: bandomasis laikotarpis baigiasi {date}",
        "trial_ending.lead": "Bandomasis laikotarpis baigiasi {date}; tada {merchant} nuskaitys {amount} {every}.",
        "page": "Jūsų puslapis: {url}",
        "manage": "Savo puslapyje galite matyti ar keisti mokėjimus arba atšaukti leidimą:",
        "support": "Klausimų? Atsakykite į šį laišką arba rašykite {email}.",
        "footer": "Šį laišką gaunate, nes leidote {merchant} nuskaityti mokėjimus.",
        "open_page": "Atidaryti puslapį",
        "open_receipt": "Atidaryti kvitą",
        "reason.insufficient_funds": "nepakako lėšų",
        "reason.expired_card": "kortelės galiojimas pasibaigęs",
        "reason.invalid_account": "sąskaita ar kortelė nebegalioja",
        "reason.fraudulent": "bankas atmetė mokėjimą",
        "reason.authentication_required": "bankas prašo patvirtinti mokėjimą",
        "reason.gateway_rejected": "mokėjimo būdas nepriimtas",
        "reason.other": "mokėjimas atmestas",
    },
}


def text(lang: str, key: str, **values: object) -> str:
    return TEXT[lang][key].format(**values)


def reason(lang: str, code: str | None) -> str:
    """A decline in plain words."""
    key = f"reason.{code}"
    return TEXT[lang][key] if key in TEXT[lang] else TEXT[lang]["reason.other"]
