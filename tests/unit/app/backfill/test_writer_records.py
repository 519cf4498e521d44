"""Backfill records (app/backfill/writer.py): a page's envelopes split into records that fit
the record limit, in order, at most MAX_PER_RECORD each."""

from __future__ import annotations

from app.backfill.writer import MAX_PER_RECORD, split_records
from contracts.records import RawEnvelope, encode_raw_batch


def _envelope(i: int, body_bytes: int) -> RawEnvelope:
    body = b'{"ticket":{"description":"' + b"x" * body_bytes + b'"}}'
    return RawEnvelope(source="zendesk", body=body, received_at=1.0, key=f"email:p{i}@x.io",
                       origin="backfill")


class TestSplitRecords:
    """Size and count both bound a record; nothing is dropped or reordered."""

    def test_a_page_of_large_tickets_is_split_under_the_limit(self) -> None:
        limit = 1024 * 1024
        page = [_envelope(i, 6_000) for i in range(256)]  # ~1.5 MB in all
        records = split_records(page, limit)
        assert len(records) > 1
        assert [e for r in records for e in r] == page
        assert all(len(encode_raw_batch(r)) + 128 + 32 <= limit for r in records)

    def test_small_envelopes_are_bounded_by_count(self) -> None:
        page = [_envelope(i, 10) for i in range(MAX_PER_RECORD + 5)]
        assert [len(r) for r in split_records(page, 1024 * 1024)] == [MAX_PER_RECORD, 5]
