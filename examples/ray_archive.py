"""Transcribe a folder on a Ray cluster into Parquet, then rerun and skip what is done.

    python examples/ray_archive.py [folder-of-audio] [output-folder]

Needs Ray Data: `pip install 'ray[data]>=2.45'` (or, in a clone, `pip install -e '.[ray]'`).
This script starts a small Ray cluster on this machine and uses the local Whisper engine (no
key, no network); on a real cluster, connect with `ray.init(address="auto")` and give
`base_url`/`api_key` and a `RateLimit` that matches your account (see docs/ray.md).
"""

# Ray and pyarrow ship incomplete types: strict pyright would flag their functions, not ours.
# pyright: reportMissingTypeStubs=false, reportUnknownMemberType=false
# pyright: reportUnknownVariableType=false, reportUnknownArgumentType=false

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq  # installed with ray[data]
import ray

from transcribe_sdk.ray import transcribe_dataset

AUDIO = Path(__file__).parent / "audio"  # hello.wav


def run(source: Path, output: Path) -> None:
    ds = ray.data.read_binary_files(str(source), include_paths=True, file_extensions=["wav"])
    out = transcribe_dataset(
        ds,
        model="tiny.en",
        base_url="local",  # each actor loads the model once; they reserve 1 CPU each
        concurrency=1,
        language="en",
        resume_from=output,  # the first time, the folder does not exist yet: nothing to skip
    )
    out.write_parquet(str(output))  # adds files to the folder; earlier ones stay


def main() -> int:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else AUDIO
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(scratch) / "transcripts"
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        try:
            run(source, output)
            for row in pq.read_table(output).to_pylist():
                name = Path(row["path"]).name
                print(f"{name}: {row['text'] if row['error'] is None else row['error']}")
            # A rerun (after a crash, or with new files added) does only what is left.
            files_before = len(list(output.glob("*.parquet")))
            run(source, output)
            new_rows = pq.read_table(output).num_rows - sum(1 for _ in source.glob("*.wav"))
            print(f"rerun: {new_rows} new rows ({files_before} Parquet files before)")
        finally:
            ray.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
