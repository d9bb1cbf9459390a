"""Usage analytics: DuckDB queries over the usage ledger, returned as pandas DataFrames.

Where the rows come from
- SQLite (the default). The ledger is mirrored into a compressed in-memory DuckDB table (~45 MB per
  million events) and kept in step, because reading SQLite row by row per query (~1.5 s per million
  events) is far too slow for a page that runs seven queries.
  * Full copy (first use, or after deletes): Python's sqlite3 snapshots the ledger into a scratch
    file under the data dir's tmp/, and DuckDB reads that file through its sqlite extension, loaded
    from the pinned duckdb-extension-sqlite-scanner wheel (never downloaded, signature checks on).
    The scanner never opens the live file: it carries its own SQLite library, and two SQLite copies
    in one process on one file break each other's locks (see _copy_all). ~4-6 s per million events.
  * Catching up: `PRAGMA data_version` on a read-only probe connection tells in microseconds whether
    anything was committed since the last look; if so, rows above the mirrored max id are fetched
    through the probe (primary-key range) and appended. Anything but appends (deleted rows such as
    clear_demo, a replaced file) triggers a full copy. Ledger rows are append-only by design
    (core.billing.ledger never updates one); `Analytics.refresh(full=True)` forces a full copy.
- Any other database (e.g. Postgres). Each call pulls the filtered rows with SQLAlchemy into pandas
  and runs the same SQL over them in a throwaway in-memory DuckDB: simple and correct, not fast.

Definitions
- A day is the UTC calendar day of the event's `ts` (stored as naive UTC); `end` is inclusive.
- Money is summed with fsum (compensated, order-independent) and rounded to 6 decimals.
- Audio seconds/minutes count rows with status 'ok' (cache hits included: the user got the
  transcript); a failed call transcribed nothing.
- Provider health counts real calls only: cache hits never reached a provider.
"""

from core.billing.analytics.api import Analytics
from core.billing.analytics.mirror import sqlite_scanner_path
from core.billing.analytics.sql import EVERYTHING, UNKNOWN_USER, UsageFilter

__all__ = ["EVERYTHING", "UNKNOWN_USER", "Analytics", "UsageFilter", "sqlite_scanner_path"]
