from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.core.providers.sse import ServerSentEvent, SSEDecoder, iter_sse


def events(*chunks: bytes) -> list[ServerSentEvent]:
    return list(iter_sse(chunks))


def test_multi_line_data_event_names_ids_and_comments() -> None:
    stream = b": keep-alive\nevent: delta\nid: 42\ndata: first\ndata:second\n\ndata: [DONE]\n\n"
    assert events(stream) == [
        ServerSentEvent("delta", "first\nsecond", "42"),
        ServerSentEvent("message", "[DONE]", "42"),  # the last id carries over
    ]


def test_crlf_cr_and_lf_line_endings() -> None:
    for ending in (b"\r\n", b"\r", b"\n"):
        stream = b"event: x" + ending + b"data: 1" + ending + ending + b"data: 2" + ending + ending
        assert [e.data for e in events(stream)] == ["1", "2"]


def test_crlf_split_across_chunks_is_one_line_ending() -> None:
    assert [e.data for e in events(b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n")] == ["a", "b"]


def test_a_final_event_without_its_blank_line_is_kept_at_a_clean_end() -> None:
    assert [e.data for e in events(b'data: {"last": true}')] == ['{"last": true}']


def test_an_event_without_data_is_not_dispatched_and_bom_is_dropped() -> None:
    assert events(b"\xef\xbb\xbfevent: ping\n\ndata: x\n\n") == [ServerSentEvent("message", "x")]


def test_one_leading_space_is_removed_not_more() -> None:
    assert events(b"data:  two spaces\n\n")[0].data == " two spaces"


def test_utf8_split_inside_a_character_and_invalid_bytes() -> None:
    text = "data: é€😀\n\n".encode()
    assert events(text[:7], text[7:9], text[9:])[0].data == "é€😀"
    assert events(b"data: \xff\xfe ok\n\n")[0].data == "\ufffd\ufffd ok"


def test_retry_field_is_read() -> None:
    assert events(b"retry: 1500\ndata: x\n\n")[0].retry == 1500


def test_a_broken_stream_never_delivers_a_torn_event() -> None:
    decoder = SSEDecoder()
    assert decoder.feed('data: {"choices": [') == []  # no end(): the connection broke


stream_text = st.lists(
    st.tuples(
        st.sampled_from(["message", "delta", "message_start"]),
        st.lists(
            st.text(
                alphabet=st.characters(blacklist_characters="\r\n", codec="utf-8"), max_size=20
            ),
            min_size=1,
            max_size=3,
        ),
    ),
    max_size=8,
)


@given(
    stream_text, st.sampled_from(["\n", "\r\n", "\r"]), st.lists(st.integers(1, 40), max_size=30)
)
def test_any_chunking_gives_the_same_events(
    spec: list[tuple[str, list[str]]], ending: str, cuts: list[int]
) -> None:
    text = "".join(
        f"event: {name}{ending}" + "".join(f"data: {line}{ending}" for line in lines) + ending
        for name, lines in spec
    )
    raw = text.encode()
    whole = events(raw)
    chunks, position = [], 0
    for size in cuts:
        chunks.append(raw[position : position + size])
        position += size
    chunks.append(raw[position:])
    assert events(*chunks) == whole
    assert [(e.event, e.data) for e in whole] == [(name, "\n".join(lines)) for name, lines in spec]
