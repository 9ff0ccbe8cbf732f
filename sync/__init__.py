"""PostgreSQL schema and migrations, direct sink, MQTT publisher and ingester, outbox logic.

Never imports ``edge_agent``.
"""
