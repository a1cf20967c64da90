"""No input stalls a worker: doubling an input at most triples the time spent on it.

Redaction, the text cleaners and the safety net are run on generated adversarial
inputs (one long token of letters or digits, runs of digits and separators,
repeated e-mail and phone fragments, whitespace runs, punctuation, mixed
Unicode, a date-of-birth or URL lead followed by a long run...). The cost is
compared between two sizes, as the median CPU time of a few runs, so the test
checks how it grows, not how fast this machine is.
"""

from __future__ import annotations

import statistics
import string
import time
from pathlib import Path
from typing import Callable, Tuple

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from components.text_cleaner import clean_text as nlu_clean_text
from nightcramps.safety import SafetyNet
from nightcramps.text_limits import MAX_MESSAGE_LENGTH, clean_text
from stores.redaction import redact, redact_values

ROOT = Path(__file__).resolve().parents[2]
KIB = 1024
#: The largest request body the REST channel accepts.
BODY_CAP = 256 * KIB
#: Below this many seconds, timer, cache and scheduler noise outweigh the work
#: measured (a quadratic step on 32 KiB takes seconds).
NOISE_FLOOR = 0.01
REPEATS = 3

#: Something typed once before the long run: the leads the patterns look for.
LEADS = ["", "born ", "born on ", "dob: ", "date of birth is ", "www.", "https://", "a@",
         "<script>", "<a href=", "\x1b[", "+44 ", "(020) ", "12/03/", "SW1A "]

units = st.one_of(
    st.text(string.ascii_letters, min_size=1, max_size=8),
    st.text(string.digits, min_size=1, max_size=8),
    st.text(string.digits + " .-/()+,", min_size=1, max_size=12),
    st.from_regex(r"[a-z0-9._+-]{0,6}@[a-z0-9-]{0,6}(\.[a-z0-9-]{0,4}){0,3} ?", fullmatch=True),
    st.from_regex(r"\+?\(?[0-9]{1,4}\)?[ .-]?[0-9]{1,4}[ .-]?", fullmatch=True),
    st.text(" \t\n\r\x0b\x0c\xa0\u2028\u3000", min_size=1, max_size=6),
    st.text(string.punctuation, min_size=1, max_size=6),
    st.text(min_size=1, max_size=8),
)
shapes = st.tuples(st.sampled_from(LEADS), units)

#: The inputs measured before the fix: 20,000-character tokens, 30,000 digits...
WORST = [("", "a"), ("", "7"), ("", "1-"), ("born", " "), ("", "a.b@"), ("", "!"),
         ("d.o.b.", "1/1/2000/d.o.b."), ("", "\U0001f642"), ("", "$")]


def fill(shape: Tuple[str, str], size: int) -> str:
    """The lead, then the unit repeated, `size` characters in all."""
    lead, unit = shape
    return (lead + unit * (size // len(unit) + 1))[:size]


def cpu_seconds(function: Callable[[str], object], text: str) -> float:
    """Median CPU time of a few runs; each run's text differs at both ends, so no
    cache (the safety net's, spaCy's tokenizer's) can answer a run from an earlier one."""
    times = []
    for run in range(REPEATS):
        varied = f"{run} {text}{run}"
        start = time.thread_time()
        function(varied)
        times.append(time.thread_time() - start)
    return statistics.median(times)


#: Measurements of one input pair before a ratio over 3 fails the test: a quadratic
#: cost gives about 4 every time, while a one-off pause on a busy machine does not
#: repeat.
ATTEMPTS = 3


def assert_linear(function: Callable[[str], object], shape: Tuple[str, str], size: int) -> None:
    ratios = []
    for _ in range(ATTEMPTS):
        small = cpu_seconds(function, fill(shape, size))
        large = cpu_seconds(function, fill(shape, 2 * size))
        if large <= 3 * max(small, NOISE_FLOOR):
            return
        ratios.append(f"{small * 1000:.1f} ms for {size} characters, "
                      f"{large * 1000:.1f} ms for {2 * size}")
    raise AssertionError(f"{function.__qualname__} on {shape!r}: " + "; ".join(ratios))


def timing_settings(examples: int) -> settings:
    # Fixed examples (a timing test must not be flaky), no shrinking (each try is
    # slow and the family already names the culprit), no deadline (we time it).
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=[HealthCheck.too_slow])


def with_worst(test: Callable[..., None]) -> Callable[..., None]:
    for shape in WORST:
        test = example(shape=shape)(test)
    return test


@pytest.fixture(scope="module")
def net() -> SafetyNet:
    return SafetyNet.from_file(ROOT / "content" / "safety.yml")


def metadata_values(text: str) -> object:
    """Redaction of metadata-like data holding the text."""
    return redact_values({"channel": {"user": text, "fields": [text[: len(text) // 2]]}})


@given(shapes)
@with_worst
@timing_settings(30)
def test_redaction_grows_linearly(shape: Tuple[str, str]) -> None:
    assert_linear(redact, shape, 32 * KIB)


@given(shapes)
@timing_settings(8)
def test_redaction_of_metadata_grows_linearly(shape: Tuple[str, str]) -> None:
    assert_linear(metadata_values, shape, 32 * KIB)


@given(shapes)
@with_worst
@timing_settings(30)
def test_text_cleaners_grow_linearly(shape: Tuple[str, str]) -> None:
    assert_linear(lambda text: nlu_clean_text(text, MAX_MESSAGE_LENGTH), shape, 32 * KIB)
    assert_linear(clean_text, shape, 32 * KIB)


@given(shapes)
@with_worst
@timing_settings(12)
def test_safety_net_grows_linearly_up_to_the_message_cap(net: SafetyNet,
                                                         shape: Tuple[str, str]) -> None:
    assert_linear(net.red_flags, shape, MAX_MESSAGE_LENGTH // 2)


@given(shapes)
@timing_settings(4)
def test_safety_net_reads_no_more_than_the_message_cap(net: SafetyNet,
                                                       shape: Tuple[str, str]) -> None:
    assert_linear(net.red_flags, shape, BODY_CAP // 2)
