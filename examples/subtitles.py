"""Make SRT and WebVTT subtitle files from a verbose_json transcription.

    python examples/subtitles.py [path/to/audio]

The subtitles are built on this machine from the segments, so they work with any server that
answers verbose_json, and you choose the line length. The files go to a temporary folder and
are printed. Uses the local engine unless TRANSCRIBE_API_KEY is set.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from transcribe_sdk import Client, TranscribeError
from transcribe_sdk.subtitles import make_cues, to_srt, to_vtt

SAMPLE = Path(__file__).parent / "audio" / "hello.wav"


def main() -> int:
    audio = Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLE
    base_url = None if os.environ.get("TRANSCRIBE_API_KEY") else "local"
    try:
        with Client(base_url=base_url) as client:
            result = client.transcribe(
                audio, model="whisper-large-v3", language="en", response_format="verbose_json"
            )
    except TranscribeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    # Short lines for a phone screen: at most 24 characters a line, 2 lines a cue. A segment
    # with more text than one cue holds becomes several cues that share its time.
    srt = to_srt(result, max_line_chars=24, max_lines=2)
    vtt = to_vtt(result, max_line_chars=24, max_lines=2)

    with tempfile.TemporaryDirectory() as folder:
        srt_path = Path(folder) / f"{audio.stem}.srt"
        vtt_path = Path(folder) / f"{audio.stem}.vtt"
        srt_path.write_text(srt, encoding="utf-8")
        vtt_path.write_text(vtt, encoding="utf-8")
        for path in (srt_path, vtt_path):
            print(f"--- {path.name} ({path.stat().st_size} bytes)")
            print(path.read_text(encoding="utf-8"))

    # The cues themselves, for any other format you need to write.
    for cue in make_cues(result, max_line_chars=24):
        print(f"{cue.start:6.2f} -> {cue.end:6.2f}  {' / '.join(cue.lines)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
