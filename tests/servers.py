"""The running assistant the suites share (it lives in tools/running_assistant.py)."""

from tools.running_assistant import (
    BIN,
    MODEL,
    ROOT,
    TOKEN,
    TRACKER_STORE,
    Assistant,
    running_assistant,
)

__all__ = ["BIN", "MODEL", "ROOT", "TOKEN", "TRACKER_STORE", "Assistant", "running_assistant"]
