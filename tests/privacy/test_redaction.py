"""The redactor: identifiers are replaced, the medical detail people type is kept."""

from __future__ import annotations

import pytest
from rasa.shared.core.events import Event, UserUttered

from stores.privacy_tracker_store import redacted
from stores.redaction import redact, redact_user_event

REDACTED = [
    ("my email is jo.bloggs+cramps@example.co.uk thanks", "my email is [email] thanks"),
    ("EMAIL: Someone.Else@Mail.Example.ORG", "EMAIL: [email]"),
    ("call me on 07700 900123", "call me on [phone]"),
    ("ring +44 7700 900123 please", "ring [phone] please"),
    ("+44 (0) 20 7946 0958", "[phone]"),
    ("(020) 7946 0958", "[phone]"),
    ("my cell is 555-123-4567.", "my cell is [phone]."),
    ("555.123.4567", "[phone]"),
    ("+1 (555) 123-4567", "[phone]"),
    ("07700900123", "[phone]"),
    ("tel:+447700900123", "tel:[phone]"),
    ("0044 7700 900123", "[phone]"),
    ("text 07700 900123, thanks", "text [phone], thanks"),
    ("my nhs number is 943 476 5919", "my nhs number is [id-number]"),
    ("9434765919", "[id-number]"),
    ("ssn 123-45-6789", "ssn [id-number]"),
    ("card 4111 1111 1111 1111", "card [id-number]"),
    ("4111111111111111", "[id-number]"),
    ("see https://example.org/reset?token=abc123.", "see [url]."),
    ("(www.my-site.example/u/jo)", "([url])"),
    ("postcode SW1A 1AA", "postcode [postcode]"),
    ("i live in m1 1ae", "i live in [postcode]"),
    ("B33 8TH", "[postcode]"),
    ("I was born on 12/03/1985", "I was born on [date-of-birth]"),
    ("dob: 1985-03-12", "dob: [date-of-birth]"),
    ("date of birth 12 March 1985", "date of birth [date-of-birth]"),
    ("born 3rd of march, 1985", "born [date-of-birth]"),
    ("my birthday is March 12, 1985", "my birthday is [date-of-birth]"),
    ("why do my legs cramp? jo@example.org / 07700 900123",
     "why do my legs cramp? [email] / [phone]"),
]

KEPT = [
    "2 weeks", "500 mg", "3am", "10-15 minutes", "since 2019", "2019-2020",
    "from 2019 to 2021", "take 1.5 litres", "at 10.30", "200mg 3 times a day",
    "vitamin b12 2hr before bed", "b6 and b12", "b12 2am", "I'm 45 and 5 foot 6",
    "12-03-2024", "cramps since 12.03.2024", "1000 1500 mg", "10000 steps",
    "2-3 times a week", "on 1/2/2023", "I walk 5km", "about 100 000 people",
    "call 111 or 999", "nhs 111", "calf cramps at 2am for 3 nights",
    "magnesium 300-400mg", "1712345678.123456", "covid-19 2020", "born in 1985",
    "i'm 67, is that why?", "quinine 200 mg", "my calf, ankle and foot",
    "what causes night time leg cramps", "", "🙂🙂",
]


@pytest.mark.parametrize(("text", "expected"), REDACTED)
def test_identifiers_are_replaced_with_tags(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", KEPT)
def test_doses_times_durations_and_years_are_kept(text: str) -> None:
    assert redact(text) == text


def test_redact_is_idempotent() -> None:
    once = redact("mail jo@example.org or call 07700 900123 from SW1A 1AA")
    assert redact(once) == once


def user_event(text: str, **metadata: object) -> UserUttered:
    parse_data = {"text": text, "intent": {"name": "ask_causes", "confidence": 0.9},
                  "entities": [{"entity": "group", "value": "pregnancy", "start": 0, "end": 1}],
                  "intent_ranking": [{"name": "ask_causes", "confidence": 0.9}]}
    return UserUttered(text, parse_data["intent"], parse_data["entities"], parse_data,
                       timestamp=1_700_000_000.5, input_channel="rest", message_id="m1",
                       metadata=dict(metadata))


def test_a_user_event_is_redacted_everywhere_it_holds_text() -> None:
    text = "cramps in pregnancy, email jo@example.org"
    data = redact_user_event(user_event(text, note="call 07700 900123").as_dict())
    assert data["text"] == "cramps in pregnancy, email [email]"
    assert data["parse_data"]["text"] == data["text"]
    assert data["metadata"] == {"note": "call [phone]"}
    assert data["parse_data"]["metadata"] == {"note": "call [phone]"}
    assert data["parse_data"]["intent"]["name"] == "ask_causes"
    assert data["parse_data"]["entities"][0]["value"] == "pregnancy"
    assert "jo@example.org" not in str(data) and "900123" not in str(data)


def test_the_stored_copy_is_redacted_and_the_original_untouched() -> None:
    original = user_event("jo@example.org: why do my legs cramp")
    copy = redacted(original)
    assert isinstance(copy, UserUttered)
    assert copy.text == "[email]: why do my legs cramp"
    assert original.text == "jo@example.org: why do my legs cramp"
    assert original.parse_data["text"] == "jo@example.org: why do my legs cramp"


def test_an_event_without_identifiers_is_stored_as_it_was() -> None:
    original = user_event("why do my legs cramp at night")
    assert redacted(original).as_dict() == original.as_dict()
    bot = Event.from_parameters({"event": "bot", "text": "call 07700 900123"})
    assert bot is not None and redacted(bot) is bot  # the bot's own text is not user text
