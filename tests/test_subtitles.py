"""SRT and WebVTT made locally from a verbose transcription (transcribe_sdk.subtitles).

Exact cases for the timestamp format, numbering, headers, escaping and wrapping; then property
tests over random segment lists, checked by parsing the output back with a small parser.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transcribe_sdk.errors import InvalidInputError
from transcribe_sdk.models import Segment, Transcription, VerboseTranscription
from transcribe_sdk.subtitles import (
    DEFAULT_MIN_DURATION,
    Cue,
    format_timestamp,
    make_cues,
    to_srt,
    to_vtt,
)

# -- a tiny SRT / WebVTT reader ---------------------------------------------------------------

_SRT_TIME = re.compile(r"^(\d{2,}):(\d{2}):(\d{2}),(\d{3}) --> (\d{2,}):(\d{2}):(\d{2}),(\d{3})$")
_VTT_TIME = re.compile(r"^(\d{2,}):(\d{2}):(\d{2})\.(\d{3}) --> (\d{2,}):(\d{2}):(\d{2})\.(\d{3})$")


@dataclass(frozen=True)
class Parsed:
    start_ms: int
    end_ms: int
    lines: tuple[str, ...]


def _millis(h: str, m: str, s: str, ms: str) -> int:
    assert int(m) < 60
    assert int(s) < 60
    return ((int(h) * 60 + int(m)) * 60 + int(s)) * 1000 + int(ms)


def _timing(pattern: re.Pattern[str], line: str) -> tuple[int, int]:
    match = pattern.match(line)
    assert match is not None, f"not a timing line: {line!r}"
    g = match.groups()
    return _millis(*g[:4]), _millis(*g[4:])


def parse_srt(text: str) -> list[Parsed]:
    """Blocks separated by one blank line: number, timing, one or more text lines."""
    if not text:
        return []
    assert text.endswith("\n")
    assert not text.endswith("\n\n")
    cues = []
    for number, block in enumerate(text[:-1].split("\n\n"), start=1):
        lines = block.split("\n")
        assert lines[0] == str(number)
        start, end = _timing(_SRT_TIME, lines[1])
        assert len(lines) >= 3, f"cue {number} has no text"
        assert all(line.strip() for line in lines[2:])
        cues.append(Parsed(start, end, tuple(lines[2:])))
    return cues


def _vtt_unescape(line: str) -> str:
    assert "<" not in line, "an unescaped '<' would start a tag"
    assert "-->" not in line
    assert not re.search(r"&(?!amp;|lt;|gt;)", line), "an unescaped '&'"
    return html.unescape(line)


def parse_vtt(text: str) -> list[Parsed]:
    """The WEBVTT header, a blank line, then blocks of timing and text lines."""
    assert text.startswith("WEBVTT\n\n")
    body = text[len("WEBVTT\n\n") :]
    if not body:
        return []
    assert body.endswith("\n")
    assert not body.endswith("\n\n")
    cues = []
    for block in body[:-1].split("\n\n"):
        lines = block.split("\n")
        start, end = _timing(_VTT_TIME, lines[0])
        assert len(lines) >= 2
        cues.append(Parsed(start, end, tuple(_vtt_unescape(line) for line in lines[1:])))
    return cues


def seg(start: float | None, end: float | None, text: str) -> Segment:
    return Segment(start=start, end=end, text=text)


# -- format_timestamp ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "srt", "vtt"),
    [
        (0, "00:00:00,000", "00:00:00.000"),
        (0.0004, "00:00:00,000", "00:00:00.000"),
        (1.5, "00:00:01,500", "00:00:01.500"),
        (59.999, "00:00:59,999", "00:00:59.999"),
        (59.9995, "00:01:00,000", "00:01:00.000"),  # rounding carries into the minutes
        (61.25, "00:01:01,250", "00:01:01.250"),
        (3599.9996, "01:00:00,000", "01:00:00.000"),  # and into the hours
        (3600, "01:00:00,000", "01:00:00.000"),
        (3723.004, "01:02:03,004", "01:02:03.004"),
        (36000 * 10 + 1.5, "100:00:01,500", "100:00:01.500"),
        (-1.0, "00:00:00,000", "00:00:00.000"),
        (-0.0001, "00:00:00,000", "00:00:00.000"),
        (math.nan, "00:00:00,000", "00:00:00.000"),
        (math.inf, "00:00:00,000", "00:00:00.000"),
        (-math.inf, "00:00:00,000", "00:00:00.000"),
    ],
)
def test_format_timestamp(seconds: float, srt: str, vtt: str) -> None:
    assert format_timestamp(seconds) == srt
    assert format_timestamp(seconds, decimal_marker=".") == vtt


def test_format_timestamp_without_forced_hours() -> None:
    assert format_timestamp(61.5, decimal_marker=".", always_hours=False) == "01:01.500"
    assert format_timestamp(3661.5, decimal_marker=".", always_hours=False) == "01:01:01.500"


# -- SRT ---------------------------------------------------------------------------------------


def test_srt_numbering_blank_lines_and_comma_marker() -> None:
    srt = to_srt([seg(0.0, 1.5, " Hello world."), seg(1.5, 3.25, " Second line.")])
    assert srt == (
        "1\n00:00:00,000 --> 00:00:01,500\nHello world.\n"
        "\n"
        "2\n00:00:01,500 --> 00:00:03,250\nSecond line.\n"
    )
    assert [c.lines for c in parse_srt(srt)] == [("Hello world.",), ("Second line.",)]


def test_srt_of_a_transcription_object() -> None:
    result = VerboseTranscription(
        text="a b",
        duration=4.0,
        segments=[Segment(id=0, start=0.0, end=2.0, text=" a"), Segment(start=2, end=4, text="b")],
    )
    assert parse_srt(to_srt(result)) == [
        Parsed(0, 2000, ("a",)),
        Parsed(2000, 4000, ("b",)),
    ]


def test_srt_of_text_without_segments_is_one_cue_over_the_duration() -> None:
    result = VerboseTranscription(text="Just the text.", duration=3.5)
    assert parse_srt(to_srt(result)) == [Parsed(0, 3500, ("Just the text.",))]
    plain = Transcription(text="No duration known here.")
    cues = parse_srt(to_srt(plain))
    assert len(cues) == 1
    assert cues[0].start_ms == 0
    assert cues[0].end_ms >= 1000


def test_empty_inputs_give_empty_files() -> None:
    assert to_srt([]) == ""
    assert to_vtt([]) == "WEBVTT\n\n"
    assert to_srt(Transcription(text="   ")) == ""
    assert to_srt([seg(0, 1, "   "), seg(1, 2, "")]) == ""


def test_srt_does_not_escape() -> None:
    srt = to_srt([seg(0, 1, "Tom & Jerry <3")])
    assert "Tom & Jerry <3" in srt


# -- WebVTT ------------------------------------------------------------------------------------


def test_vtt_header_and_dot_marker() -> None:
    vtt = to_vtt([seg(0.0, 1.5, "Hello"), seg(62.0, 3725.5, "there")])
    assert vtt == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello\n\n00:01:02.000 --> 01:02:05.500\nthere\n"
    )


def test_vtt_escapes_markup_and_arrow() -> None:
    vtt = to_vtt([seg(0, 1, "a < b & c --> d > e")], max_line_chars=80)
    body = vtt.split("\n")[3]
    assert body == "a &lt; b &amp; c --&gt; d > e"
    assert parse_vtt(vtt)[0].lines == ("a < b & c --> d > e",)
    # an entity-looking text is escaped too, so it reads back literally
    assert parse_vtt(to_vtt([seg(0, 1, "&lt; is not <")]))[0].lines == ("&lt; is not <",)


# -- wrapping and splitting --------------------------------------------------------------------


def test_long_segment_wraps_into_lines_and_cues_with_proportional_times() -> None:
    words = [f"w{i:02d}" for i in range(40)]  # 40 words of 3 chars: 159 chars in all
    cues = make_cues([seg(10.0, 26.0, " ".join(words))], max_line_chars=20, max_lines=2)
    assert len(cues) > 1
    for cue in cues:
        assert 1 <= len(cue.lines) <= 2
        assert all(len(line) <= 20 for line in cue.lines)
    assert [w for c in cues for line in c.lines for w in line.split()] == words
    assert cues[0].start == 10.0
    assert cues[-1].end == 26.0
    for before, after in pairwise(cues):
        assert before.end == pytest.approx(after.start)
    # each cue's share of the time follows its share of the text
    total_chars = sum(len(" ".join(c.lines)) for c in cues)
    for cue in cues:
        share = len(" ".join(cue.lines)) / total_chars
        assert cue.end - cue.start == pytest.approx(16.0 * share, abs=1e-9)


def test_wrapping_is_visible_in_srt() -> None:
    text = "The quick brown fox jumps over the lazy dog and keeps on running far away"
    srt = to_srt([seg(0, 6, text)], max_line_chars=20, max_lines=2)
    cues = parse_srt(srt)
    assert len(cues) == 2
    assert cues[0].lines == ("The quick brown fox", "jumps over the lazy")
    assert cues[1].lines == ("dog and keeps on", "running far away")
    assert cues[0].start_ms == 0
    assert cues[1].end_ms == 6000
    assert cues[0].end_ms == cues[1].start_ms


def test_default_limits_are_42_chars_and_2_lines() -> None:
    text = " ".join(["word"] * 60)
    cues = make_cues([seg(0, 30, text)])
    assert all(len(c.lines) <= 2 for c in cues)
    assert all(len(line) <= 42 for c in cues for line in c.lines)
    assert sum(len(c.lines) for c in cues) >= 300 // 42


def test_a_word_longer_than_a_line_is_kept_whole() -> None:
    long_word = "https://example.com/a/very/long/path/that/cannot/be/broken"
    cues = make_cues([seg(0, 2, f"see {long_word} now")], max_line_chars=20)
    lines = [line for c in cues for line in c.lines]
    assert long_word in lines
    assert " ".join(lines) == f"see {long_word} now"


def test_whitespace_is_normalised() -> None:
    cues = make_cues([seg(0, 1, "  spaced\tout\n text  ")])
    assert cues == [Cue(0.0, 1.0, ("spaced out text",))]


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="max_line_chars"):
        make_cues([seg(0, 1, "x")], max_line_chars=0)
    with pytest.raises(ValueError, match="max_lines"):
        make_cues([seg(0, 1, "x")], max_lines=0)


# -- odd segments ------------------------------------------------------------------------------


def test_segments_missing_times_follow_the_previous_one() -> None:
    cues = make_cues(
        [
            seg(1.0, 2.0, "one"),
            seg(None, 3.0, "two"),
            seg(3.5, None, "three"),
            seg(None, None, "4"),
        ],
        min_duration=0,
    )
    assert [(c.start, c.end) for c in cues] == [(1.0, 2.0), (2.0, 3.0), (3.5, 3.5), (3.5, 3.5)]


def test_times_never_go_backwards_and_start_is_not_after_end() -> None:
    cues = make_cues(
        [
            seg(5.0, 6.0, "a"),
            seg(2.0, 3.0, "b"),  # starts before the previous end
            seg(7.0, 6.5, "c"),  # ends before it starts
            seg(math.nan, math.inf, "d"),
            seg(-3.0, 8.0, "e"),
        ],
        min_duration=0,
    )
    assert [c.lines[0] for c in cues] == ["a", "b", "c", "d", "e"]
    for cue in cues:
        assert cue.start <= cue.end
        assert math.isfinite(cue.start)
        assert math.isfinite(cue.end)
    for before, after in pairwise(cues):
        assert after.start >= before.start


def test_empty_segments_are_skipped_and_numbering_stays_dense() -> None:
    srt = to_srt([seg(0, 1, "a"), seg(1, 2, "  "), seg(2, 3, "b")])
    cues = parse_srt(srt)  # checks the numbers are 1, 2
    assert [c.lines for c in cues] == [("a",), ("b",)]


def test_min_duration_stretches_short_cues() -> None:
    cues = make_cues([seg(1.0, 1.1, "blink")], min_duration=1.0)
    assert cues[0].end == pytest.approx(2.0)


# -- properties --------------------------------------------------------------------------------

_WORD_CHARS = st.characters(
    codec="utf-8",
    exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp"),
)
_words = st.text(_WORD_CHARS, min_size=1, max_size=14).filter(lambda w: w.split() == [w])
_texts = st.lists(_words, max_size=25).map(" ".join) | st.sampled_from(
    ["", "  ", "a <b> & c --> d", "x\ty\nz", "1\n\n2"]
)
_times = st.none() | st.floats(min_value=-5, max_value=20_000) | st.just(math.nan)
_segments = st.lists(st.builds(seg, _times, _times, _texts), max_size=12)


def _words_of(segments: list[Segment]) -> list[str]:
    return [w for s in segments for w in s.text.split()]


_PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_PROPERTY
@given(_segments, st.integers(min_value=1, max_value=50), st.integers(min_value=1, max_value=3))
def test_cues_property(segments: list[Segment], width: int, max_lines: int) -> None:
    cues = make_cues(segments, max_line_chars=width, max_lines=max_lines)
    assert [w for c in cues for line in c.lines for w in line.split()] == _words_of(segments)
    previous = None
    for cue in cues:
        assert 1 <= len(cue.lines) <= max_lines
        for line in cue.lines:
            assert line == line.strip()
            assert line
            assert len(line) <= width or " " not in line  # only a lone long word overflows
        assert math.isfinite(cue.start)
        assert math.isfinite(cue.end)
        assert 0 <= cue.start <= cue.end
        if previous is not None:
            assert cue.start >= previous.start
        previous = cue


@_PROPERTY
@given(_segments, st.integers(min_value=1, max_value=50), st.integers(min_value=1, max_value=3))
def test_srt_and_vtt_parse_back(segments: list[Segment], width: int, max_lines: int) -> None:
    expected_words = _words_of(segments)
    srt = parse_srt(to_srt(segments, max_line_chars=width, max_lines=max_lines))
    vtt = parse_vtt(to_vtt(segments, max_line_chars=width, max_lines=max_lines))
    assert [(c.start_ms, c.end_ms) for c in srt] == [(c.start_ms, c.end_ms) for c in vtt]
    assert [c.lines for c in srt] == [c.lines for c in vtt]
    for cues in (srt, vtt):
        assert [w for c in cues for line in c.lines for w in line.split()] == expected_words
        for cue in cues:
            assert cue.start_ms <= cue.end_ms
            assert len(cue.lines) <= max_lines
            assert all(len(line) <= width or " " not in line for line in cue.lines)
        for before, after in pairwise(cues):
            assert before.start_ms <= after.start_ms


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_format_timestamp_round_trips_to_the_millisecond(seconds: float) -> None:
    text = format_timestamp(seconds)
    (start, _) = _timing(_SRT_TIME, f"{text} --> {text}")
    assert abs(start - seconds * 1000) <= 0.5 + 1e-6


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [({"max_lines": 0}, "max_lines"), ({"max_line_chars": 2.5}, "max_line_chars")],
)
def test_bad_limits_name_the_argument(kwargs: dict[str, object], param: str) -> None:
    from transcribe_sdk import InvalidInputError, Segment
    from transcribe_sdk.subtitles import make_cues

    with pytest.raises(InvalidInputError) as info:
        make_cues([Segment(start=0, end=1, text="hi")], **kwargs)  # type: ignore[arg-type]
    assert info.value.param == param


def test_min_duration_applies_to_the_cues_a_segment_is_split_into() -> None:
    # Four lines of 10 chars and a last line of one short word: split by two lines, the last
    # cue would get 1/9 of 3 s (a flash); with min_duration it gets 1 s, the others share the rest.
    text = "aaaa bbbbb " * 4 + "c"
    flash = make_cues([seg(0.0, 3.0, text)], max_line_chars=10, max_lines=2, min_duration=0)
    assert [len(c.lines) for c in flash] == [2, 2, 1]
    assert flash[-1].end - flash[-1].start < 0.2
    cues = make_cues([seg(0.0, 3.0, text)], max_line_chars=10, max_lines=2, min_duration=1.0)
    assert [c.lines for c in cues] == [c.lines for c in flash]
    assert cues[0].start == 0.0
    assert cues[-1].end == 3.0
    for before, after in pairwise(cues):
        assert before.end == pytest.approx(after.start)
    durations = [c.end - c.start for c in cues]
    assert min(durations) == pytest.approx(1.0)
    assert durations[0] == pytest.approx(durations[1])  # equal text, equal time
    assert sum(durations) == pytest.approx(3.0)


def test_a_split_segment_too_short_for_min_duration_is_shared_equally() -> None:
    text = "aaaa bbbbb " * 4 + "c"
    cues = make_cues([seg(0.0, 1.5, text)], max_line_chars=10, max_lines=2, min_duration=1.0)
    # equal shares of the segment; the last one then runs on into the silence after it
    assert [c.end - c.start for c in cues] == pytest.approx([0.5, 0.5, 1.0])
    assert cues[-1].start == pytest.approx(1.0)


# -- the default minimum, without drift ----------------------------------------------------------


def test_the_default_minimum_is_five_sixths_of_a_second() -> None:
    assert pytest.approx(5 / 6) == DEFAULT_MIN_DURATION
    cues = make_cues([seg(1.0, 1.345, "blink"), seg(9.0, 10.0, "later")])
    assert cues[0].end - cues[0].start == pytest.approx(DEFAULT_MIN_DURATION)
    assert cues[1].start == 9.0  # the silence took the stretch; the next cue did not move


def test_a_run_of_short_contiguous_words_does_not_drift() -> None:
    # 200 one-word segments of 0.3 s back to back: a minute of fast speech, no silence at all.
    segments = [seg(i * 0.3, (i + 1) * 0.3, f"w{i}") for i in range(200)]
    cues = make_cues(segments)
    audio_end = 200 * 0.3
    assert cues[-1].end == pytest.approx(audio_end, abs=1.0)
    assert [w for c in cues for line in c.lines for w in line.split()] == _words_of(segments)
    for cue in cues:
        assert cue.end - cue.start >= DEFAULT_MIN_DURATION - 1e-6
        first = int(cue.lines[0].split()[0][1:])
        assert cue.start == pytest.approx(first * 0.3)  # shown when its first word is heard
    for before, after in pairwise(cues):
        assert before.end <= after.start + 1e-9


def test_the_old_stretching_drifted() -> None:
    # min_duration=0 keeps the segments' own times: the flashes the default avoids
    cues = make_cues([seg(i * 0.3, (i + 1) * 0.3, "w") for i in range(200)], min_duration=0)
    assert len(cues) == 200
    assert max(c.end - c.start for c in cues) < 0.31


def test_a_short_cue_that_cannot_join_takes_the_next_cues_surplus() -> None:
    long_text = "x" * 40 + " " + "y" * 40  # two full lines: nothing joins it
    cues = make_cues([seg(0.0, 0.2, long_text), seg(0.2, 5.0, long_text)])
    assert cues[0].end - cues[0].start == pytest.approx(DEFAULT_MIN_DURATION)
    assert cues[1].start == pytest.approx(DEFAULT_MIN_DURATION)
    assert cues[1].end == 5.0


def test_speakers_are_never_joined() -> None:
    a = Segment(start=0.0, end=0.3, text="yes", speaker="A")
    b = Segment(start=0.3, end=2.0, text="no", speaker="B")
    cues = make_cues([a, b])
    assert [c.speaker for c in cues] == ["A", "B"]


def test_to_srt_and_to_vtt_take_min_duration() -> None:
    text = "aaaa bbbbb " * 4 + "c"
    srt = to_srt([seg(0.0, 3.0, text)], max_line_chars=10, min_duration=1.0)
    assert "00:00:02,000 --> 00:00:03,000\nc\n" in srt
    vtt = to_vtt([seg(0.0, 3.0, text)], max_line_chars=10, min_duration=1.0)
    assert "00:00:02.000 --> 00:00:03.000\nc\n" in vtt


@pytest.mark.parametrize("bad", [-1.0, math.inf, math.nan, "1", True])
def test_bad_min_duration_is_refused(bad: object) -> None:
    with pytest.raises(InvalidInputError) as caught:
        make_cues([seg(0.0, 1.0, "a")], min_duration=bad)  # type: ignore[arg-type]
    assert caught.value.param == "min_duration"


# -- speakers (diarized transcriptions) ------------------------------------------------------------
def test_speakers_are_labelled_in_srt_and_vtt() -> None:
    from transcribe_sdk.models import DiarizedTranscription

    result = DiarizedTranscription.model_validate(
        {
            "text": "Hello. Hi <there>.",
            "segments": [
                {"id": "seg_0", "start": 0.0, "end": 1.5, "text": "Hello.", "speaker": "agent"},
                {
                    "id": "seg_1",
                    "start": 1.6,
                    "end": 3.0,
                    "text": "Hi <there>.",
                    "speaker_id": "B>",
                },
            ],
        }
    )
    srt = to_srt(result)
    assert "00:00:00,000 --> 00:00:01,500\nagent: Hello.\n" in srt
    assert "B>: Hi <there>." in srt
    vtt = to_vtt(result)
    assert "00:00:00.000 --> 00:00:01.500\n<v agent>Hello.\n" in vtt
    assert "<v B&gt;>Hi &lt;there>." in vtt


def test_no_speaker_no_label() -> None:
    srt = to_srt([Segment(start=0, end=1, text="plain")])
    assert srt == "1\n00:00:00,000 --> 00:00:01,000\nplain\n"
