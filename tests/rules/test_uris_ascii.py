"""URIs are what Digdir and RFC 3986 accept: ASCII only, nothing invisible; the message names
the character and where it is (file:line through `validate`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from selvsync.cli import main
from selvsync.errors import ExitCode
from tests.harness import PROJECT_YAML, idporten


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (
            "https://minside.exаmple.no/cb",  # Cyrillic a
            "contains a non-ASCII character (U+0430 CYRILLIC SMALL LETTER A at position 19) "
            "(write the host as punycode: minside.xn--exmple-4nf.no)",
        ),
        (
            "https://minside.example.no/\u200bcb",
            "contains an invisible character (U+200B ZERO WIDTH SPACE at position 28) "
            "(delete it)",
        ),
        (
            "https://minside.example.no/søknad",
            "contains a non-ASCII character (U+00F8 LATIN SMALL LETTER O WITH STROKE at "
            "position 29) (percent-encode it (UTF-8), e.g. ø as %C3%B8)",
        ),
    ],
    ids=["homoglyph-host", "zero-width", "letter-in-path"],
)
def test_a_non_ascii_or_invisible_character_in_a_uri_is_named_with_its_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], uri: str, expected: str
) -> None:
    root = tmp_path / "p"
    (root / "environments").mkdir(parents=True)
    (root / "selvsync.yaml").write_text(PROJECT_YAML)
    client = idporten("Web", redirect_uris=[uri])
    (root / "environments" / "test.yaml").write_text(
        yaml.safe_dump({"clients": {"web": client}}, allow_unicode=True)
    )
    assert main(["validate", "-C", str(root)]) == ExitCode.CONFIG
    err = capsys.readouterr().err
    assert "environments/test.yaml:" in err
    assert "clients.web.redirect_uris[0]: " + expected in err
