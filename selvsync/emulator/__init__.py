"""A faithful local stand-in for Digdir's self-service API and Maskinporten's token endpoint,
with fault injection. See docs/emulator.md. Independent of selvsync's client on purpose: the
two implement one contract, so tests between them catch mismatches."""

from .emulator import DEFAULT_ISSUER, Emulator
from .errors import ConnectionDropped
from .faults import Fault, FaultKind, FaultSet
from .tokens import FULL_SCOPES

__all__ = ["DEFAULT_ISSUER", "FULL_SCOPES", "ConnectionDropped", "Emulator", "Fault",
           "FaultKind", "FaultSet"]
