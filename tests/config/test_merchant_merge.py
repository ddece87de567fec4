"""A client's `merchant:` overrides the environment's merchant data key by key: one invoice
field of the client never drops the environment's other invoice fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from selvsync.model import Merchant
from tests.harness import ProjectDir, idporten

ENVIRONMENT_INVOICE = {
    "orgno": "991825827",
    "reference": "ENV-REF",
    "contact_email": "faktura@example.no",
    "peppol_address": "0192:991825827",
}


def _merchant(tmp_path: Path, client_merchant: dict[str, Any]) -> Merchant:
    proj = ProjectDir(tmp_path / "p")
    proj.write(
        {"web": idporten("Web", merchant=client_merchant)},
        merchant={"notification_emails": ["drift@example.no"], "invoice": ENVIRONMENT_INVOICE},
    )
    merchant = proj.load().states["test"].clients["web"].merchant
    assert merchant is not None
    return merchant


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("orgno", "974760673"),
        ("reference", "CLIENT-REF"),
        ("contact_email", "okonomi@example.no"),
        ("peppol_address", "0192:974760673"),
    ],
)
def test_one_invoice_field_overrides_only_that_field(
    tmp_path: Path, field: str, value: str
) -> None:
    merchant = _merchant(tmp_path, {"invoice": {field: value}})
    assert merchant.invoice == {**ENVIRONMENT_INVOICE, field: value}
    assert merchant.notification_emails == ("drift@example.no",)


def test_notification_emails_replace_the_environments_list(tmp_path: Path) -> None:
    merchant = _merchant(tmp_path, {"notification_emails": ["vakt@example.no"]})
    assert merchant.notification_emails == ("vakt@example.no",)
    assert merchant.invoice == ENVIRONMENT_INVOICE
