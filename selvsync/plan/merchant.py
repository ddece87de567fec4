"""Merchant data (notification e-mails, invoice details) in the plan.

Where the environment has a merchant-data API (the emulator's extension, or one a user
configures), it is diffed and written like any other field. Where there is none (Digdir today),
selvsync never claims to have applied anything: the plan lists a *manual* step with the exact
portal route, until a person confirms it with ``selvsync merchant confirm``, which stores a
digest of the confirmed data in the client's marker (``m=``). The reminder comes back when the
YAML changes again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from selvsync.model import Merchant
from selvsync.plan.diff import FieldChange

INVOICE_FIELDS = ("orgno", "reference", "contact_email", "peppol_address")


def normalise(data: Mapping[str, Any] | None) -> dict[str, Any]:
    """Canonical merchant data: sorted unique e-mails, invoice with every field or None."""
    data = data or {}
    emails = sorted({str(e).strip().lower() for e in data.get("notification_emails") or []})
    invoice = data.get("invoice")
    clean = None
    if isinstance(invoice, Mapping) and any(invoice.get(k) for k in INVOICE_FIELDS):
        clean = {k: (str(invoice[k]) if invoice.get(k) else None) for k in INVOICE_FIELDS}
    return {"notification_emails": emails, "invoice": clean}


def digest(merchant: Merchant) -> str:
    """Short, stable digest of declared merchant data, stored in the marker on confirmation."""
    text = json.dumps(normalise(merchant.as_dict()), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def compare(desired: Merchant, live: Mapping[str, Any] | None) -> list[FieldChange]:
    want, have = normalise(desired.as_dict()), normalise(live)
    changes: list[FieldChange] = []
    if want["notification_emails"] != have["notification_emails"]:
        changes.append(
            FieldChange(
                "notification_emails",
                have["notification_emails"] or None,
                want["notification_emails"] or None,
            )
        )
    want_inv, have_inv = want["invoice"] or {}, have["invoice"] or {}
    for key in INVOICE_FIELDS:
        if want_inv.get(key) != have_inv.get(key):
            changes.append(FieldChange(f"invoice.{key}", have_inv.get(key), want_inv.get(key)))
    return changes


def portal_steps(
    env: str, key: str, client_id: str | None, client_name: str, merchant: Merchant
) -> list[str]:
    """Digdir's own portal flow, with the values to enter."""
    which = f"'{client_name}' (client_id {client_id})" if client_id else f"'{client_name}'"
    steps = [
        "manual step: Digdir has no API for merchant data; enter it in the portal:",
        "1. log in to Samarbeidsportalen (samarbeid.digdir.no) with ID-porten",
        '2. open "Virksomhetens tjenester"',
        f"3. pick the integration {which}",
        '4. click "Rediger integrasjon"',
    ]
    data = normalise(merchant.as_dict())
    if data["notification_emails"]:
        steps.append(
            "5. varslingspunkter (notification e-mails): " + ", ".join(data["notification_emails"])
        )
    if data["invoice"]:
        inv = data["invoice"]
        parts = [f"organisasjonsnummer {inv['orgno']}", f"fakturareferanse {inv['reference']}"]
        if inv.get("contact_email"):
            parts.append(f"kontakt-e-post {inv['contact_email']}")
        if inv.get("peppol_address"):
            parts.append(f"EHF/PEPPOL-adresse {inv['peppol_address']}")
        steps.append("6. fakturainformasjon (invoice): " + ", ".join(parts))
    steps.append('7. click "Lagre"')
    steps.append(f"then record it: selvsync merchant confirm --env {env} {key}")
    return steps
