"""The box's local store: SQLite (WAL) with a batched writer, sync outbox and disk cap.

See docs/local-store.md for the schema, the chunk format and the durability guarantees.
"""
from edge_agent.store.errors import StoreError
from edge_agent.store.ids import new_id, uuid7
from edge_agent.store.outbox import OutboxItem
from edge_agent.store.sessions import END_REASONS
from edge_agent.store.store import LocalStore
from sync.chunks import ChunkFormatError, decode_chunk, encode_chunk

__all__ = ["LocalStore", "StoreError", "OutboxItem", "END_REASONS", "encode_chunk",
           "decode_chunk", "ChunkFormatError", "uuid7", "new_id"]
