"""Telegram, Slack, Messenger and WhatsApp channels: unit and end-to-end tests."""
