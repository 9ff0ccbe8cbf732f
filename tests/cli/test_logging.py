import io
import logging

from liftguard.logsetup import setup_logging


def test_journald_lines_carry_priority_prefix(monkeypatch):
    monkeypatch.setenv("JOURNAL_STREAM", "8:1234")
    buf = io.StringIO()
    setup_logging("INFO", stream=buf)
    logging.getLogger("liftguard.test").warning("serial port gone")
    logging.getLogger("liftguard.test").debug("hidden")
    assert buf.getvalue() == "<4>liftguard.test: serial port gone\n"


def test_terminal_lines_carry_level_and_time(monkeypatch):
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    buf = io.StringIO()
    setup_logging("DEBUG", stream=buf)
    logging.getLogger("liftguard.test").error("boom")
    line = buf.getvalue()
    assert " ERROR   liftguard.test: boom" in line and line[:4].isdigit()
