"""One run against live Digdir: sessions, reads and plans. Nothing here writes to Digdir."""
