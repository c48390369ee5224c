import pytest

from broker.cli.durations import format_duration, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("15m", 900), ("2h", 7200), ("1h30m", 5400), ("1d", 86400), ("45", 45), ("0.5h", 1800),
    (" 15M ", 900),
])
def test_parse_duration_accepts_units_and_bare_seconds(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "15x", "15 m", "-5m", "0", "0s", "1h 30m", "abc"])
def test_parse_duration_rejects_malformed_or_non_positive(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format_duration_is_compact():
    assert format_duration(930) == "15m30s"
    assert format_duration(7200) == "2h"
    assert format_duration(0) == "0s"


def test_bad_timeout_is_a_usage_error_naming_the_option(cli):
    result = cli("rent", "--gpu", "H100", "--max-hours", "1", "--timeout", "soon")
    assert result.code == 2
    assert "--timeout" in result.err and "invalid duration" in result.err
