"""The words of the confirmation pages (`confirm.py`), of the forms sent twice (`once.py`) and of a
pause until a date, in English and Lithuanian; `texts.TEXT` takes them in."""

from __future__ import annotations

CONFIRM_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "confirm.keep": "Keep it and go back",
        "confirm.cancel_title": "Cancel the mandate of {customer}?",
        "confirm.cancel_happens": (
            "No payment starts after you confirm, and the customer is not charged again. An unsettled charge "
            "not yet sent to the payment provider is cancelled; one already sent stays pending until its "
            "outcome is known. A cancelled mandate cannot be resumed."
        ),
        "confirm.cancel_button": "Yes, cancel the mandate",
        "confirm.customer": "Customer",
        "confirm.mandate": "Mandate",
        "confirm.terms": "Terms",
        "confirm.status": "Status",
        "confirm.next_charge": "Next charge",
        "confirm.archive_title": "Archive the plan {name}?",
        "confirm.archive_happens": (
            "The plan takes no new mandates after you confirm; its existing mandates go on being charged on "
            "its terms. An archived plan cannot be made active again."
        ),
        "confirm.archive_button": "Yes, archive the plan",
        "confirm.plan": "Plan",
        "confirm.amount": "Amount",
        "confirm.revoke_title": "Revoke the API key ending in {last4}?",
        "confirm.revoke_happens": (
            "Every request made with this key is refused from the moment you confirm: whatever uses it stops "
            "working until it is given another key. A revoked key cannot be used again."
        ),
        "confirm.revoke_button": "Yes, revoke the key",
        "confirm.key": "Key",
        "confirm.created": "Created",
        "confirm.last_used": "Last used",
        "confirm.not_now": "This cannot be done now: {state}.",
        "confirm.remove_title": "Remove the user {email}?",
        "confirm.remove_happens": (
            "They can no longer sign in to this dashboard from the moment you confirm: a page they have open "
            "asks them to sign in again, and their sign-in account is deleted. To let them in again, invite them again."
        ),
        "confirm.remove_button": "Yes, remove the user",
        "confirm.user": "User",
        "confirm.role": "Role",
        "confirm.invited": "Invited",
        "once.conflict": (
            "This form was already sent with other values, or is still being sent: nothing more was made. "
            "Look at the list, or fill in the new form."
        ),
        "keys.already_heading": "The API key was already created",
        "keys.already_text": (
            "This form had already created the key ending in {last4}; its secret was shown once, on that "
            "page, and is not shown again. If you did not copy it, revoke that key and create another."
        ),
        "mandate.resume_on": "Resume on (optional)",
        "mandate.resume_on_note": "Left empty: paused until resumed. Otherwise it resumes at 00:00 UTC that day.",
        "mandate.resume_on_invalid": "The resume date must be a date after today ({today}), e.g. {example}.",
        "mandate.resumes_at": "Resumes on",
        "mandate.paused_until_resumed": "none while paused: charges start again once the mandate is resumed",
    },
    "lt": {
        "confirm.keep": "Palikti ir grįžti",
        "confirm.cancel_title": "Atšaukti kliento {customer} sutikimą?",
        "confirm.cancel_happens": (
            "Patvirtinus nebepradedamas joks mokėjimas ir klientas daugiau neapmokestinamas. Neapmokėtas "
            "mokėjimas, dar neišsiųstas mokėjimų paslaugų teikėjui, atšaukiamas; jau išsiųstas lieka laukiantis, "
            "kol bus žinomas jo rezultatas. Atšaukto sutikimo atnaujinti negalima."
        ),
        "confirm.cancel_button": "Taip, atšaukti sutikimą",
        "confirm.customer": "Klientas",
        "confirm.mandate": "Sutikimas",
        "confirm.terms": "Sąlygos",
        "confirm.status": "Būsena",
        "confirm.next_charge": "Kitas mokėjimas",
        "confirm.archive_title": "Archyvuoti planą {name}?",
        "confirm.archive_happens": (
            "Patvirtinus planas nebepriima naujų sutikimų; esami jo sutikimai toliau apmokestinami jo "
            "sąlygomis. Archyvuoto plano vėl aktyvinti negalima."
        ),
        "confirm.archive_button": "Taip, archyvuoti planą",
        "confirm.plan": "Planas",
        "confirm.amount": "Suma",
        "confirm.revoke_title": "Atšaukti API raktą, kurio pabaiga {last4}?",
        "confirm.revoke_happens": (
            "Nuo patvirtinimo kiekviena užklausa su šiuo raktu atmetama: kas jį naudoja, nustoja veikti, kol "
            "gaus kitą raktą. Atšaukto rakto vėl naudoti negalima."
        ),
        "confirm.revoke_button": "Taip, atšaukti raktą",
        "confirm.key": "Raktas",
        "confirm.remove_title": "Pašalinti naudotoją {email}?",
        "confirm.remove_happens": (
            "Nuo patvirtinimo akimirkos jis nebegali prisijungti prie šio skydelio: atvertas puslapis paprašys "
            "prisijungti iš naujo, o jo prisijungimo paskyra ištrinama. Norėdami vėl jį įleisti, pakvieskite jį iš naujo."
        ),
        "confirm.remove_button": "Taip, pašalinti naudotoją",
        "confirm.user": "Naudotojas",
        "confirm.role": "Vaidmuo",
        "confirm.invited": "Pakviestas",
        "confirm.created": "Sukurtas",
        "confirm.last_used": "Paskutinį kartą naudotas",
        "confirm.not_now": "Dabar to padaryti negalima: {state}.",
        "once.conflict": (
            "Ši forma jau išsiųsta su kitomis reikšmėmis arba dar siunčiama: daugiau nieko nesukurta. "
            "Peržiūrėkite sąrašą arba užpildykite naują formą."
        ),
        "keys.already_heading": "API raktas jau sukurtas",
        "keys.already_text": (
            "Ši forma jau sukūrė raktą, kurio pabaiga {last4}; jo slaptoji dalis buvo parodyta vieną kartą, tame "
            "puslapyje, ir daugiau nerodoma. Jei jos nenukopijavote, atšaukite tą raktą ir sukurkite kitą."
        ),
        "mandate.resume_on": "Atnaujinti nuo (neprivaloma)",
        "mandate.resume_on_note": "Palikus tuščią – sustabdyta, kol atnaujinsite. Kitaip atnaujinama tą dieną 00:00 UTC.",
        "mandate.resume_on_invalid": "Atnaujinimo data turi būti vėlesnė nei šiandien ({today}), pvz., {example}.",
        "mandate.resumes_at": "Atnaujinama",
        "mandate.paused_until_resumed": "nėra, kol sustabdyta: mokėjimai vėl prasidės atnaujinus sutikimą",
    },
}
