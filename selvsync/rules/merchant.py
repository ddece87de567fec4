"""Rules for merchant data ("merkantile data") and Norwegian organisation numbers.

Split from :mod:`selvsync.rules`, which wraps these into its public ``check_merchant`` and
``check_orgno``. Problems go to a ``report(path, message, hint)`` callback, paths relative to
the merchant block. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from selvsync.rules.uris import Path, Report, valid_email

_ORGNO_WEIGHTS: Final = (3, 2, 7, 6, 5, 4, 3, 2)
_NINE_DIGITS: Final = re.compile(r"[0-9]{9}")  # not \d: that would accept other scripts' digits
# A Peppol participant id: ISO 6523 scheme (four digits), colon, identifier.
_PEPPOL: Final = re.compile(r"([0-9]{4}):([A-Za-z0-9._-]+)")
_NORWEGIAN_ORGNO_SCHEME: Final = "0192"


def valid_orgno(orgno: str) -> bool:
    """A Norwegian organisation number: 9 ASCII digits, the last one the MOD11 check digit
    over weights 3,2,7,6,5,4,3,2 (remainder 0 -> check digit 0; remainder 1 -> invalid)."""
    if not isinstance(orgno, str) or not _NINE_DIGITS.fullmatch(orgno):
        return False
    remainder = sum(w * int(d) for w, d in zip(_ORGNO_WEIGHTS, orgno[:8], strict=True)) % 11
    if remainder == 1:  # the check digit would be 10: Brønnøysund never issues such a number
        return False
    return (11 - remainder) % 11 == int(orgno[8])


def orgno_problem(orgno: object) -> tuple[str, str] | None:
    """``(message, hint)`` for an invalid organisation number, None for a valid one."""
    if not isinstance(orgno, str):
        # An unquoted YAML number loses nothing for 9 digits, but the contract is a string.
        return "organisation number must be a string", 'quote it in YAML, e.g. "123456785"'
    if not _NINE_DIGITS.fullmatch(orgno):
        return f"organisation number {orgno!r} is not 9 digits", "write the 9 digits, no spaces"
    if not valid_orgno(orgno):
        return (
            f"organisation number {orgno} has a wrong check digit (MOD11)",
            "check for a typo; look the number up in Enhetsregisteret (brreg.no)",
        )
    return None


def check_merchant_fields(merchant: Mapping[str, Any], *, production: bool, report: Report) -> None:
    """Notification e-mails (required in production: Digdir mails critical incidents there)
    and the optional invoice block (needed only above 200 000 logins a year)."""
    emails = merchant.get("notification_emails")
    if production and not emails:
        report(
            ("notification_emails",),
            "production needs at least one notification e-mail address",
            "add notification_emails: [drift@example.no]; Digdir mails critical incidents there",
        )
    if isinstance(emails, list):
        for i, email in enumerate(emails):
            _check_email(email, ("notification_emails", i), report)
    invoice = merchant.get("invoice")
    if isinstance(invoice, Mapping):
        _check_invoice(invoice, report)


def _check_email(email: object, path: Path, report: Report) -> None:
    if isinstance(email, str) and not valid_email(email):
        report(
            path,
            f"{email!r} is not a valid e-mail address",
            "write name@domain.no (ASCII; international domains in punycode)",
        )


def _check_invoice(invoice: Mapping[str, Any], report: Report) -> None:
    orgno = invoice.get("orgno")
    if orgno is None:
        report(("invoice", "orgno"), "invoice.orgno is required", "add the orgno to be invoiced")
    elif (problem := orgno_problem(orgno)) is not None:
        report(("invoice", "orgno"), *problem)
    reference = invoice.get("reference")
    if reference is None or (isinstance(reference, str) and not reference.strip()):
        report(
            ("invoice", "reference"),
            "invoice.reference is required",
            "add the reference your accounts department wants on EHF invoices",
        )
    _check_email(invoice.get("contact_email"), ("invoice", "contact_email"), report)
    peppol = invoice.get("peppol_address")
    if isinstance(peppol, str):
        _check_peppol(peppol, ("invoice", "peppol_address"), report)


def _check_peppol(address: str, path: Path, report: Report) -> None:
    match = _PEPPOL.fullmatch(address)
    if match is None:
        report(
            path,
            f"{address!r} is not a Peppol participant id",
            "write <scheme>:<identifier>, e.g. 0192:<orgno> for a Norwegian organisation",
        )
    elif match[1] == _NORWEGIAN_ORGNO_SCHEME and not valid_orgno(match[2]):
        report(
            path,
            f"{match[2]} after {_NORWEGIAN_ORGNO_SCHEME}: is not a valid organisation number",
            "scheme 0192 is followed by the 9-digit organisation number",
        )
