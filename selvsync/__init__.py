"""selvsync: Digdir self-service clients as code."""

__version__ = "0.1.0"
