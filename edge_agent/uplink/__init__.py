"""The box's link to the server: outbox sync (``sync_runner``), session commands and coach
labels (``session_command_runner``), the clock gate on sync and the wall-clock watch."""
