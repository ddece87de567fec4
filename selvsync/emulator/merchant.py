"""The merchant-data extension (``x-emulator``): Digdir has no API for it, so this shape is
selvsync's own, validated strictly so the client and the emulator agree on it."""

from __future__ import annotations

import re
from typing import Any

from .errors import ApiProblem, FieldError
from .validation import valid_orgno

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PEPPOL_PATTERN = re.compile(r"^\d{4}:\S+$")
INVOICE_FIELDS = ("orgno", "reference", "contact_email", "peppol_address")
EMPTY: dict[str, Any] = {"notification_emails": [], "invoice": None}


def validate_merchant(body: object) -> dict[str, Any]:
    """The normalised merchant data to store (a full replace), or ApiProblem(400)."""
    if not isinstance(body, dict):
        raise ApiProblem(400, [FieldError("the request body must be a JSON object")])
    errors: list[FieldError] = []
    for name in sorted(body.keys() - EMPTY.keys()):
        errors.append(FieldError("unknown field", name))
    emails = body.get("notification_emails") or []
    if not isinstance(emails, list) or not all(
        isinstance(e, str) and EMAIL_PATTERN.match(e) for e in emails
    ):
        errors.append(FieldError("must be a list of e-mail addresses", "notification_emails"))
        emails = []
    invoice = body.get("invoice")
    if invoice is not None:
        invoice = _invoice(invoice, errors)
    if errors:
        raise ApiProblem(400, errors)
    return {"notification_emails": list(dict.fromkeys(emails)), "invoice": invoice}


def _invoice(invoice: object, errors: list[FieldError]) -> dict[str, Any] | None:
    if not isinstance(invoice, dict):
        errors.append(FieldError("must be an object or null", "invoice"))
        return None
    for name in sorted(invoice.keys() - set(INVOICE_FIELDS)):
        errors.append(FieldError("unknown field", f"invoice.{name}"))
    for name in INVOICE_FIELDS:
        value = invoice.get(name)
        if value is not None and not isinstance(value, str):
            errors.append(FieldError("must be a string or null", f"invoice.{name}"))
    if not valid_orgno(invoice.get("orgno")):
        errors.append(FieldError("must be 9 digits with a valid check digit", "invoice.orgno"))
    email = invoice.get("contact_email")
    if isinstance(email, str) and not EMAIL_PATTERN.match(email):
        errors.append(FieldError("must be an e-mail address", "invoice.contact_email"))
    peppol = invoice.get("peppol_address")
    if isinstance(peppol, str) and not PEPPOL_PATTERN.match(peppol):
        errors.append(FieldError("must look like 0192:991825827", "invoice.peppol_address"))
    return {name: invoice.get(name) for name in INVOICE_FIELDS}
