"""Secret values: a wrapper that keeps them out of text.

``client_secret`` values (returned once by create and rotate) and other credentials
travel through selvsync as :class:`Secret`. Formatting one in any way (``str``,
``repr``, f-strings, ``%``, logging) yields ``(sensitive)``; only :meth:`Secret.reveal`
gives the value, so every place that really needs it is easy to find with grep.
Pickling refuses, and ``json.dumps`` refuses as it does for any unknown object.

Secret material enters selvsync only from environment variables and files; the loaders for
the admin client's credentials are in :mod:`selvsync.api.auth.credentials`.
"""

from __future__ import annotations

import hmac
from typing import Any, NoReturn

from selvsync.sensitive import redact

_MASK = "(sensitive)"


class Secret:
    """An immutable secret string that does not print itself."""

    __slots__ = ("_value",)

    _value: str

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        object.__setattr__(self, "_value", value)
        # Whatever learns a secret also teaches the redactor, so a copy that escapes
        # through some other path is still scrubbed from logs and errors.
        redact.register(value)

    def reveal(self) -> str:
        """The secret value. Call only where the value must leave the process."""
        return self._value

    def __str__(self) -> str:
        return _MASK

    def __repr__(self) -> str:
        return f"Secret({_MASK})"

    def __format__(self, format_spec: str) -> str:
        return format(_MASK, format_spec)

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        # Constant time, so comparing secrets leaks nothing through timing.
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __len__(self) -> int:
        return len(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    # Immutable, so copies may share the instance; this also keeps copy/deepcopy away
    # from __reduce_ex__, which refuses below.
    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("a Secret cannot be pickled; call .reveal() where you mean to store it")

    def __getstate__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled; call .reveal() where you mean to store it")
