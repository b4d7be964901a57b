"""Pure hash-chain arithmetic for the audit log (no Django import)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64

FIELDS = (
    "seq",
    "at",
    "action",
    "actor_id",
    "actor_label",
    "actor_organisation_id",
    "organisation_id",
    "object_type",
    "object_id",
    "ip",
    "data",
)


def entry_digest(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """SHA-256 over the previous hash and a canonical JSON of the entry."""
    body = json.dumps(
        {name: fields[name] for name in FIELDS},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


@dataclass(frozen=True)
class Break:
    seq: int
    reason: str


def verify(
    entries: Iterable[tuple[Mapping[str, Any], str, str]], *, recorded_head: str | None = None
) -> tuple[int, Break | None]:
    """Walk (fields, prev_hash, entry_hash) in order; return (count, first break).

    ``recorded_head`` is a hash an operator noted earlier (``tocsin audit verify``
    prints the head): when it is no longer in the chain, entries at the end were
    removed or the chain was rewritten, which the links alone cannot show.
    """
    seen_head = recorded_head is None
    expected_prev = GENESIS
    expected_seq: int | None = None
    count = 0
    for fields, prev_hash, entry_hash in entries:
        seq = int(fields["seq"])
        if expected_seq is not None and seq != expected_seq:
            return count, Break(expected_seq, f"entry #{expected_seq} is missing (next is #{seq})")
        if prev_hash != expected_prev:
            return count, Break(seq, f"entry #{seq} does not link to the entry before it")
        if entry_digest(prev_hash, fields) != entry_hash:
            return count, Break(seq, f"entry #{seq} was changed after it was written")
        expected_prev = entry_hash
        expected_seq = seq + 1
        count += 1
        seen_head = seen_head or entry_hash == recorded_head
    if not seen_head:
        return count, Break(count + 1, "the recorded head is not in the chain: entries were removed at its end")
    return count, None
