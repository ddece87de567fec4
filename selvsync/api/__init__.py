"""Digdir's self-service API over HTTP: :class:`DigdirClient` and what it is made of.

Imports run one way: ``connect`` → ``client`` → ``sender`` → ``auth`` → ``retry`` ·
``http`` → ``errors``. Nothing here knows about plans.
"""

from selvsync.api.client import CreateResult, DigdirClient, UpdateResult

__all__ = ["CreateResult", "DigdirClient", "UpdateResult"]
