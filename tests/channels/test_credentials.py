"""Channels are on only when all their environment variables are set."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict

import pytest
import yaml
from rasa.shared.utils.io import read_config_file

from connectors import credentials as credentials_module
from connectors.credentials import active_credentials, missing_variables, write_active_credentials
from tests.servers import ROOT

PROJECT = ROOT / "channels.yml"
SAMPLE = """\
rest:
custom.Channel:
  token: ${TOKEN}
  secret: prefix-${SECRET}
  nested:
    - ${LISTED}
  base: ${BASE:-https://api.example.org}
  optional: ${OPTIONAL:-}
  fixed: 42
plain.Channel:
  setting: value
"""
REST = "connectors.resilience.ResilientRestInput"
TELEGRAM = "connectors.telegram.TelegramChannel"
SLACK = "connectors.slack.SlackChannel"
FACEBOOK = "connectors.facebook.FacebookChannel"
WHATSAPP = "connectors.whatsapp.WhatsAppChannel"
ALL_ENV = {
    "TELEGRAM_BOT_TOKEN": "1:a", "TELEGRAM_WEBHOOK_SECRET": "s",
    "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s",
    "FACEBOOK_VERIFY_TOKEN": "v", "FACEBOOK_APP_SECRET": "s", "FACEBOOK_PAGE_ACCESS_TOKEN": "t",
    "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t", "TWILIO_WHATSAPP_NUMBER": "+1",
    "TWILIO_WEBHOOK_URL": "https://bot.example.org/webhooks/whatsapp/webhook",
}


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "credentials.yml"
    path.write_text(SAMPLE)
    return path


def test_channel_with_all_variables_set_is_on(sample: Path) -> None:
    env = {"TOKEN": "t", "SECRET": "s", "LISTED": "l"}
    active, off = active_credentials(sample, env)
    assert list(active) == ["rest", "custom.Channel", "plain.Channel"] and off == []
    assert active["rest"] is None
    assert active["custom.Channel"] == {
        "token": "${TOKEN}", "secret": "prefix-${SECRET}", "nested": ["${LISTED}"],
        "base": "https://api.example.org", "fixed": 42}


@pytest.mark.parametrize("unset", ["TOKEN", "SECRET", "LISTED"])
def test_one_unset_or_blank_variable_turns_the_channel_off(sample: Path, unset: str) -> None:
    for value in (None, "", "   "):
        env = {name: "x" for name in ("TOKEN", "SECRET", "LISTED")}
        if value is None:
            del env[unset]
        else:
            env[unset] = value
        active, off = active_credentials(sample, env)
        assert off == ["custom.Channel"]
        assert list(active) == ["rest", "plain.Channel"]


def test_optional_variables_are_kept_when_set(sample: Path) -> None:
    env = {"TOKEN": "t", "SECRET": "s", "LISTED": "l", "BASE": "http://127.0.0.1:1",
           "OPTIONAL": "yes"}
    settings = active_credentials(sample, env)[0]["custom.Channel"]
    assert settings["base"] == "${BASE}" and settings["optional"] == "${OPTIONAL}"


def test_missing_variables_lists_required_ones_only(sample: Path) -> None:
    settings = yaml.safe_load(SAMPLE)["custom.Channel"]
    assert missing_variables(settings, {"SECRET": "s"}) == ["TOKEN", "LISTED"]


def test_written_file_is_read_by_rasa_with_the_environment(
        sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"TOKEN": "tok:en", "SECRET": "s3cr$t", "LISTED": "l"}
    target = tmp_path / "out.yml"
    assert write_active_credentials(sample, target, env) == [
        "rest", "custom.Channel", "plain.Channel"]
    assert "tok:en" not in target.read_text()  # placeholders only, no secrets
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    loaded = read_config_file(target)
    assert loaded["custom.Channel"]["token"] == "tok:en"
    assert loaded["custom.Channel"]["secret"] == "prefix-s3cr$t"
    assert loaded["custom.Channel"]["base"] == "https://api.example.org"
    assert loaded["rest"] is None


def test_project_file_without_variables_keeps_only_rest(tmp_path: Path) -> None:
    active, off = active_credentials(PROJECT, {})
    assert list(active) == [REST]
    assert off == [TELEGRAM, SLACK, FACEBOOK, WHATSAPP]


def test_project_file_with_one_platform_set(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}
    target = tmp_path / "credentials.yml"
    assert write_active_credentials(PROJECT, target, env) == [REST, SLACK]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert read_config_file(target)[SLACK] == {
        "slack_token": "xoxb-1", "slack_signing_secret": "s",
        "api_base": "https://slack.com/api"}


def test_project_file_with_everything_set(tmp_path: Path) -> None:
    active, off = active_credentials(PROJECT, ALL_ENV)
    assert list(active) == [REST, TELEGRAM, SLACK, FACEBOOK, WHATSAPP] and off == []


def test_every_variable_is_documented() -> None:
    names = set(re.findall(r"\$\{([A-Z0-9_]+)", PROJECT.read_text()))
    docs = (ROOT / "docs" / "channels.md").read_text()
    assert names and all(name in docs for name in names), sorted(n for n in names
                                                                 if n not in docs)


def test_cli_reports_channels_on_and_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    env: Dict[str, str] = {"TELEGRAM_BOT_TOKEN": "1:a", "TELEGRAM_WEBHOOK_SECRET": "s"}
    for name in ALL_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    target = tmp_path / "build" / "credentials.yml"
    assert credentials_module.main([str(PROJECT), str(target)]) == 0
    out = capsys.readouterr().out
    assert f"on:  {TELEGRAM}" in out and f"on:  {REST}" in out
    assert f"off: {SLACK} (unset: SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET)" in out
    assert list(yaml.safe_load(target.read_text())) == [REST, TELEGRAM]
    assert credentials_module.main([str(PROJECT)]) == 2


def test_rasas_default_credentials_need_no_variable() -> None:
    # `rasa run` and `rasa shell` read credentials.yml as it is: Rasa fails on any
    # ${VAR} it cannot fill, so the file holds only channels without secrets.
    default = ROOT / "credentials.yml"
    assert read_config_file(str(default)) == {REST: None}
    # The REST channel is the same one `make run` serves.
    assert REST in yaml.safe_load(PROJECT.read_text())
