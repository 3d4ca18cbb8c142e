"""The dashboard's words, in English and Lithuanian, and how it picks the language."""

from __future__ import annotations

from typing import Literal

Lang = Literal["en", "lt"]
LANGUAGES: tuple[Lang, ...] = ("en", "lt")

# The navigation, in order: (path under /dashboard, text key). Pages other features build.
NAVIGATION: tuple[tuple[str, str], ...] = (
    ("overview", "nav.overview"),
    ("mandates", "nav.mandates"),
    ("plans", "nav.plans"),
    ("charges", "nav.charges"),
    ("refunds", "nav.refunds"),
    ("disputes", "nav.disputes"),
    ("invoices", "nav.invoices"),
    ("webhooks", "nav.webhooks"),
    ("api-keys", "nav.api_keys"),
    ("settings", "nav.settings"),
    ("exports", "nav.exports"),
    ("users", "nav.users"),
)

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Dashboard",
        "lang": "Lietuviškai",
        "sign_in": "Sign in",
        "sign_in.heading": "Sign in to your dashboard",
        "sign_in.email": "E-mail",
        "sign_in.password": "Password",
        "sign_in.refused": "The e-mail or password is not right.",
        "sign_in.expired": "Your session ended. Please sign in again.",
        "sign_in.managed": "Continue to sign-in",
        "sign_in.managed_text": "You sign in on the secure page of this service's user pool, then come back here.",
        "sign_in.failed": "Sign-in did not complete. Please try again.",
        "sign_in.signed_out_or_removed": "Sign-in failed: you were signed out or removed; sign in again.",
        "sign_out": "Sign out",
        "new_password.heading": "Choose your password",
        "new_password.text": "You signed in with the invitation's temporary password. Choose your own: at least 12 characters, with upper and lower case letters, a digit and a symbol.",
        "new_password.field": "New password",
        "new_password.again": "New password again",
        "new_password.mismatch": "The two passwords differ.",
        "new_password.refused": "This password cannot be used (too short, too simple, or the invitation expired).",
        "new_password.button": "Save and sign in",
        "signed_in_as": "Signed in as {email} ({role})",
        "role.owner": "owner",
        "role.viewer": "viewer",
        "nav.overview": "Overview",
        "nav.mandates": "Mandates",
        "nav.plans": "Plans",
        "nav.charges": "Charges",
        "nav.refunds": "Refunds",
        "nav.disputes": "Disputes",
        "nav.invoices": "Invoices",
        "nav.webhooks": "Webhooks",
        "nav.api_keys": "API keys",
        "nav.settings": "Settings",
        "nav.exports": "Exports",
        "nav.users": "Users",
        "overview.heading": "Overview",
        "overview.empty": "No figures yet: they appear here once your first mandate is approved.",
        "overview.as_of": "As of {moment} (UTC). Money in the last 30 days, by the day it was taken.",
        "overview.currency": "Figures in {currency}",
        "overview.mrr": "Monthly recurring revenue",
        "overview.active": "Active mandates",
        "overview.new": "New in the last 30 days",
        "overview.ended": "Ended in the last 30 days",
        "overview.churn": "Churn rate (30 days)",
        "overview.collected": "Collected in the last 30 days",
        "overview.refunded": "Refunded in the last 30 days",
        "overview.recovered": "Recovered by retries and card updates (30 days)",
        "overview.past_due": "Failed payments that need action",
        "overview.upcoming": "Upcoming charges (next 7 days)",
        "overview.disputes": "Open disputes",
        "overview.count": "Count: {count}",
        "overview.chart.collected": "Money collected per day, {currency}",
        "overview.chart.collected_desc": "A bar for each of the last {days} days, {first} to {last}: {total} in all. The values are in the table below the chart.",
        "overview.chart.mrr": "Monthly recurring revenue per month, {currency}",
        "overview.chart.mrr_desc": "A bar for each of the last {months} months, {first} to {last} (the value at each month's end; this month's is today's: {now}). Past months are computed from the mandates' current plans. The values are in the table below the chart.",
        "overview.chart.day": "Day",
        "overview.chart.month": "Month",
        "overview.chart.amount": "Amount ({currency})",
        "overview.chart.values": "The chart's values",
        "users.heading": "Users",
        "users.email": "E-mail",
        "users.role": "Role",
        "users.invited": "Invited",
        "users.you": "you",
        "users.invite": "Invite a user",
        "users.invite_button": "Invite",
        "users.invited_notice": "The invitation was sent: it holds a temporary password.",
        "users.removed_notice": "The user was removed.",
        "users.remove": "Remove",
        "users.viewer_note": "Only an owner can invite or remove users.",
        "users.make_owner": "Make an owner",
        "users.make_viewer": "Make a viewer",
        "users.role_changed_notice": "The user's role was changed: it applies from their next page.",
        "error.forbidden": "Only an owner of this merchant can do this.",
        "error.not_found": "Not found",
        "error.not_found_text": "There is no such page or object.",
        "error.csrf": "This form expired. Please reload the page and try again.",
        "error.too_large": "This form is too large",
        "error.too_large_text": "What was sent is over 10,000 characters. Please shorten it and try again.",
        "error.invalid": "Please check the form: {field}.",
        "error.state": "{message}",
        "error.bug": "Something went wrong. Please try again later.",
    },
    "lt": {
        "title": "Valdymo skydelis",
        "lang": "English",
        "sign_in": "Prisijungti",
        "sign_in.heading": "Prisijunkite prie valdymo skydelio",
        "sign_in.email": "El. paštas",
        "sign_in.password": "Slaptažodis",
        "sign_in.refused": "Neteisingas el. paštas arba slaptažodis.",
        "sign_in.expired": "Jūsų sesija baigėsi. Prisijunkite iš naujo.",
        "sign_in.managed": "Tęsti prisijungimą",
        "sign_in.managed_text": "Prisijungsite saugiame šios paslaugos naudotojų telkinio puslapyje ir grįšite čia.",
        "sign_in.failed": "Prisijungti nepavyko. Bandykite dar kartą.",
        "sign_in.signed_out_or_removed": "Prisijungti nepavyko: atsijungėte arba buvote pašalinti; prisijunkite iš naujo.",
        "sign_out": "Atsijungti",
        "new_password.heading": "Pasirinkite slaptažodį",
        "new_password.text": "Prisijungėte su kvietimo laikinuoju slaptažodžiu. Pasirinkite savo: bent 12 simbolių, su didžiosiomis ir mažosiomis raidėmis, skaitmeniu ir specialiuoju simboliu.",
        "new_password.field": "Naujas slaptažodis",
        "new_password.again": "Pakartokite naują slaptažodį",
        "new_password.mismatch": "Slaptažodžiai nesutampa.",
        "new_password.refused": "Šio slaptažodžio naudoti negalima (per trumpas, per paprastas arba kvietimas nebegalioja).",
        "new_password.button": "Išsaugoti ir prisijungti",
        "signed_in_as": "Prisijungęs: {email} ({role})",
        "role.owner": "savininkas",
        "role.viewer": "žiūrėtojas",
        "nav.overview": "Apžvalga",
        "nav.mandates": "Sutikimai",
        "nav.plans": "Planai",
        "nav.charges": "Mokėjimai",
        "nav.refunds": "Grąžinimai",
        "nav.disputes": "Ginčai",
        "nav.invoices": "Sąskaitos",
        "nav.webhooks": "Webhook'ai",
        "nav.api_keys": "API raktai",
        "nav.settings": "Nustatymai",
        "nav.exports": "Eksportas",
        "nav.users": "Naudotojai",
        "overview.heading": "Apžvalga",
        "overview.empty": "Rodiklių dar nėra: jie atsiras, kai klientas patvirtins pirmąjį sutikimą.",
        "overview.as_of": "Duomenys {moment} (UTC). Pinigai per pastarąsias 30 dienų, pagal jų gavimo dieną.",
        "overview.currency": "Rodikliai, {currency}",
        "overview.mrr": "Mėnesio pasikartojančios pajamos",
        "overview.active": "Aktyvūs sutikimai",
        "overview.new": "Nauji per pastarąsias 30 dienų",
        "overview.ended": "Nutraukti per pastarąsias 30 dienų",
        "overview.churn": "Klientų netekimo rodiklis (30 dienų)",
        "overview.collected": "Surinkta per pastarąsias 30 dienų",
        "overview.refunded": "Grąžinta per pastarąsias 30 dienų",
        "overview.recovered": "Atgauta pakartotinai bandant ir atnaujinus kortelę (30 dienų)",
        "overview.past_due": "Nepavykę mokėjimai, kuriems reikia veiksmų",
        "overview.upcoming": "Artimiausi mokėjimai (7 dienos)",
        "overview.disputes": "Atviri ginčai",
        "overview.count": "Kiekis: {count}",
        "overview.chart.collected": "Surinkti pinigai per dieną, {currency}",
        "overview.chart.collected_desc": "Po stulpelį kiekvienai iš pastarųjų {days} dienų, nuo {first} iki {last}: iš viso {total}. Reikšmės pateiktos lentelėje po diagrama.",
        "overview.chart.mrr": "Mėnesio pasikartojančios pajamos pagal mėnesį, {currency}",
        "overview.chart.mrr_desc": "Po stulpelį kiekvienam iš pastarųjų {months} mėnesių, nuo {first} iki {last} (reikšmė mėnesio pabaigoje; šio mėnesio – šiandienos: {now}). Praėję mėnesiai apskaičiuoti pagal dabartinius sutikimų planus. Reikšmės pateiktos lentelėje po diagrama.",
        "overview.chart.day": "Diena",
        "overview.chart.month": "Mėnuo",
        "overview.chart.amount": "Suma ({currency})",
        "overview.chart.values": "Diagramos reikšmės",
        "users.heading": "Naudotojai",
        "users.email": "El. paštas",
        "users.role": "Vaidmuo",
        "users.invited": "Pakviestas",
        "users.you": "jūs",
        "users.invite": "Pakviesti naudotoją",
        "users.invite_button": "Pakviesti",
        "users.invited_notice": "Kvietimas išsiųstas: jame yra laikinas slaptažodis.",
        "users.removed_notice": "Naudotojas pašalintas.",
        "users.remove": "Pašalinti",
        "users.viewer_note": "Kviesti ir šalinti naudotojus gali tik savininkas.",
        "users.make_owner": "Padaryti savininku",
        "users.make_viewer": "Padaryti žiūrėtoju",
        "users.role_changed_notice": "Naudotojo vaidmuo pakeistas: jis galioja nuo kito jo atidaryto puslapio.",
        "error.forbidden": "Tai gali padaryti tik šio prekybininko savininkas.",
        "error.not_found": "Nerasta",
        "error.not_found_text": "Tokio puslapio ar objekto nėra.",
        "error.csrf": "Ši forma nebegalioja. Atnaujinkite puslapį ir bandykite dar kartą.",
        "error.too_large": "Ši forma per didelė",
        "error.too_large_text": "Išsiųsta daugiau nei 10 000 ženklų. Sutrumpinkite ir bandykite dar kartą.",
        "error.invalid": "Patikrinkite formą: {field}.",
        "error.state": "{message}",
        "error.bug": "Įvyko klaida. Bandykite vėliau.",
    },
}


def text(lang: Lang, key: str, **values: object) -> str:
    words = TEXT[lang][key]
    return words.format(**values) if values else words


def pick_language(query: str | None, remembered: str | None, accept_language: str | None) -> Lang:
    """`?lang=` first, then the language the browser chose before (a cookie), then the browser's first we speak."""
    for choice in (query, remembered):
        if choice in LANGUAGES:
            return choice  # type: ignore[return-value]
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code  # type: ignore[return-value]
    return "en"


def _take_in(more: dict[str, dict[str, str]]) -> None:
    """Another page's words (kept in its own module), in both languages."""
    for language, words in more.items():
        assert set(words) == set(more["en"]), f"{language}: the pages' words differ from English"
        TEXT[language].update(words)


from .mandate_texts import MANDATE_TEXT  # noqa: E402  # after TEXT: its words join it

_take_in(MANDATE_TEXT)

from .list_texts import LIST_TEXT  # noqa: E402  # after TEXT: its words join it

_take_in(LIST_TEXT)

from .owner_texts import OWNER_TEXT  # noqa: E402  # after TEXT: its words join it

_take_in(OWNER_TEXT)

from .webhook_texts import WEBHOOK_TEXT  # noqa: E402  # after TEXT: its words join it

_take_in(WEBHOOK_TEXT)

from .settings_texts import SETTINGS_TEXT  # noqa: E402  # after TEXT: its words join it

_take_in(SETTINGS_TEXT)

from .confirm_texts import CONFIRM_TEXT  # noqa: E402  # after TEXT: its words join it

_take_in(CONFIRM_TEXT)
