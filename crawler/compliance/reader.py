"""The reader of saved scans, where `crawler.compliance` and its command import it from; it
lives with the sinks that write them (`crawler.sinks.saved`)."""

from __future__ import annotations

from crawler.sinks.saved import Saved, open_saved

__all__ = ["Saved", "open_saved"]
