"""Transcription on a Ray cluster: a Ray Dataset of audio files in, transcript rows out.

Needs Ray Data: ``pip install 'ray[data]>=2.45'`` (or, in a clone of transcribe-sdk,
``pip install -e '.[ray]'``). The core package never imports this module; it imports the core.

Example::

    import ray
    from transcribe_sdk.ray import RateLimit, transcribe_dataset

    ds = ray.data.read_binary_files("audio/", include_paths=True)
    out = transcribe_dataset(ds, model="whisper-large-v3",
                             rate_limit=RateLimit(max_in_flight=32, requests_per_minute=600),
                             eu_native=True)
    out.write_parquet("transcripts/")
"""

try:
    import ray as _ray  # noqa: F401  (fail here, clearly, rather than on first use)
except ImportError as _missing:  # pragma: no cover - depends on the environment
    raise ImportError(
        "transcribe_sdk.ray needs Ray Data: pip install 'ray[data]>=2.45' (or, in a clone of "
        "transcribe-sdk, pip install -e '.[ray]')"
    ) from _missing

from ._dataset import IO_CPUS, cluster_cpus, default_concurrency, transcribe_dataset
from ._limit import RateLimit
from ._rows import COLUMNS, done_keys

__all__ = [
    "COLUMNS",
    "IO_CPUS",
    "RateLimit",
    "cluster_cpus",
    "default_concurrency",
    "done_keys",
    "transcribe_dataset",
]
