"""A small thread pool for the ingest path: numpy, hashlib and Parquet release the GIL.

Only the ingesting thread submits work, and tasks never submit tasks themselves, so the
pool cannot deadlock on itself.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

__all__ = ["POOL", "WORKERS"]

WORKERS = max(2, min(4, os.cpu_count() or 2))
POOL = ThreadPoolExecutor(max_workers=WORKERS + 1, thread_name_prefix="smame-ingest")
