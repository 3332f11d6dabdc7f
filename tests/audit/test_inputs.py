"""Reading members and non-members in every accepted layout, and the one-line refusals of
bad input before any scoring."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from pipeline.core.errors import ArtifactError, ConfigError
from pipeline.tracks.audit.inputs import (
    combine,
    mimir_cache_paths,
    read_pairs,
    read_sequences,
    shared_span,
    texts_or_token_strings,
    token_arrays,
    tokenize,
    validate,
    window_hashes,
)
from tests.audit.helpers import token_frame, word_tokenizer

WORDS = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "park", "with",
         "ball"]


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------- reading


def test_jsonl_objects_and_mimir_bare_strings_read_alike(tmp_path: Path) -> None:
    objects = write_jsonl(tmp_path / "a.jsonl", [{"text": "the cat"}, {"text": "a dog"}])
    (tmp_path / "b.jsonl").write_text('"the cat"\n\n"a dog"\n')
    a, b = read_sequences(objects, "member"), read_sequences(tmp_path / "b.jsonl", "member")
    assert a["text"].to_list() == b["text"].to_list() == ["the cat", "a dog"]
    assert b["row"].to_list() == [1, 3]  # line numbers, blank lines skipped
    assert a.columns == ["source", "row", "text", "tokens"]


def test_parquet_with_text_or_tokens(tmp_path: Path) -> None:
    pl.DataFrame({"text": ["x y", "z"]}).write_parquet(tmp_path / "t.parquet")
    pl.DataFrame({"tokens": [[1, 2, 3], [4, 5]]},
                 schema={"tokens": pl.List(pl.UInt16)}).write_parquet(tmp_path / "k.parquet")
    assert read_sequences(tmp_path / "t.parquet", "member")["text"].to_list() == ["x y", "z"]
    pl.DataFrame({"text": ["", "z"], "tokens": [[1, 2], [3]]}).write_parquet(tmp_path / "b.parquet")
    assert read_sequences(tmp_path / "b.parquet", "member")["text"].to_list() == [None, "z"]
    tokens = read_sequences(tmp_path / "k.parquet", "non-member")
    assert tokens["tokens"].dtype == pl.List(pl.Int64)
    assert [a.tolist() for a in token_arrays(tokens)] == [[1, 2, 3], [4, 5]]


def test_pairs_file_and_mimir_cache_paths(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "pairs.jsonl", [
        {"member": "m one", "nonmember": "n one", "member_neighbors": []},
        {"member": "m two", "nonmember": "n two", "member_neighbors": []}])
    members, nonmembers = read_pairs(path)
    assert members["text"].to_list() == ["m one", "m two"]
    assert nonmembers["text"].to_list() == ["n one", "n two"]
    assert nonmembers["source"][0].endswith("(nonmember)")
    train, test = mimir_cache_paths(tmp_path, "the_pile_arxiv")
    assert (train.parent.name, test.parent.name, train.name) == ("train", "test",
                                                                 "the_pile_arxiv.jsonl")


@pytest.mark.parametrize(("content", "expected"), [
    (None, "the member file is missing"),
    ("", "no member sequences"),
    ('{"body": "x"}\n', "needs a 'text' or 'tokens' column"),
    ('{"text": "  "}\n', "row 1: empty member sequence"),
    ("{not json\n", ":1: not valid JSON"),
    ("[1, 2]\n", "expected a JSON object or string"),
    ('{"text": 5}\n', "column 'text' holds"),
])
def test_bad_files_fail_with_one_line_naming_the_file(tmp_path: Path, content: str | None,
                                                      expected: str) -> None:
    path = tmp_path / "members.jsonl"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ArtifactError) as error:
        read_sequences(path, "member")
    message = one_line(error)
    assert str(path) in message and expected in message


def test_unknown_suffix_is_refused(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("text\nx\n")
    with pytest.raises(ArtifactError, match="Parquet"):
        read_sequences(tmp_path / "m.csv", "member")


# --------------------------------------------------------------------------- tokenizing


def texts_frame(members: list[str], nonmembers: list[str]) -> pl.DataFrame:
    def part(texts: list[str], name: str) -> pl.DataFrame:
        return pl.DataFrame({"source": name, "row": range(1, len(texts) + 1), "text": texts,
                             "tokens": [None] * len(texts)},
                            schema={"source": pl.String, "row": pl.Int64, "text": pl.String,
                                    "tokens": pl.List(pl.Int64)})
    return combine(part(members, "m.jsonl"), part(nonmembers, "n.jsonl"))


def test_combine_puts_members_first_and_tokenize_fills_both_columns() -> None:
    tokenizer = word_tokenizer(WORDS)
    frame = tokenize(texts_frame(["the cat sat", "a dog ran to the park"], ["the mat"]),
                     tokenizer, max_tokens=4)
    assert frame["seq_id"].to_list() == [0, 1, 2]
    assert frame["member"].to_list() == [True, True, False]
    assert frame["tokens"].to_list()[0] == [1, 2, 3]
    # Cut to the model's context: the text becomes what the model scores.
    assert frame["tokens"].list.len().to_list() == [3, 4, 2]
    assert frame["text"][1] == "a dog ran to"


def test_tokens_without_text_get_decoded_text_or_token_strings() -> None:
    frame = texts_frame(["x"], ["y"]).with_columns(
        pl.Series("text", [None, None], pl.String),
        pl.Series("tokens", [[1, 2], [3, 4]], pl.List(pl.Int64)))
    assert texts_or_token_strings(tokenize(frame)) == ["1 2", "3 4"]
    assert tokenize(frame, word_tokenizer(WORDS))["text"].to_list() == ["the cat", "sat on"]
    with pytest.raises(ConfigError, match="no tokenizer"):
        tokenize(texts_frame(["x"], ["y"]))


# --------------------------------------------------------------------------- validation


def random_rows(n: int, length: int, vocab: int, seed: int) -> list[list[int]]:
    return np.random.default_rng(seed).integers(0, vocab, size=(n, length)).tolist()


def test_clean_input_passes() -> None:
    validate(token_frame(random_rows(5, 40, 1000, 0), random_rows(5, 40, 1000, 1)), 1000)


def test_a_token_outside_the_vocabulary_names_the_sequence() -> None:
    members = random_rows(3, 40, 100, 0)
    members[2][7] = 100
    with pytest.raises(ConfigError) as error:
        validate(token_frame(members, random_rows(3, 40, 100, 1)), 100)
    assert "m.parquet row 3: token id 100 outside the tokenizer's vocabulary [0, 100)" in \
        one_line(error)


def test_too_short_and_too_long_sequences_are_named() -> None:
    with pytest.raises(ConfigError, match=r"n.parquet row 2: 1 tokens, fewer than the 2"):
        validate(token_frame([[1, 2]], [[3, 4], [5]]), 10)
    with pytest.raises(ConfigError, match="more than the model's context of 3"):
        validate(token_frame([[1, 2, 3, 4]], [[3, 4]]), 10, max_tokens=3)


def test_an_exact_duplicate_is_found_up_to_formatting() -> None:
    frame = tokenize(texts_frame(["the cat sat", "a dog"], ["ran to", "The  cat\nsat "]),
                     word_tokenizer(WORDS))
    with pytest.raises(ConfigError) as error:
        validate(frame, 20)
    assert one_line(error) == ("member m.jsonl row 1 also appears among the non-members "
                               "(n.jsonl row 2)")


def test_equal_tokens_are_a_duplicate_whatever_the_texts_say() -> None:
    frame = token_frame([[1, 2, 3]], [[4, 5], [1, 2, 3]]).with_columns(
        pl.Series("text", ["one", "two", "three"], pl.String))
    with pytest.raises(ConfigError, match=r"m.parquet row 1 also appears .*\(n.parquet row 2\)"):
        validate(frame, 10)


def test_a_shared_32_token_span_at_different_offsets_is_found() -> None:
    members, nonmembers = random_rows(4, 60, 5000, 0), random_rows(4, 60, 5000, 1)
    nonmembers[3][20:52] = members[1][5:37]
    with pytest.raises(ConfigError) as error:
        validate(token_frame(members, nonmembers), 5000)
    assert one_line(error).startswith("member m.parquet row 2 shares a 32-token span with "
                                      "non-member n.parquet row 4 (tokens 5..36 and 20..51)")
    nonmembers[3][20] += 1  # 31 shared tokens are not a duplicate
    validate(token_frame(members, nonmembers), 5001)


def test_empty_sets_are_refused() -> None:
    frame = token_frame([[1, 2]], [[3, 4]])
    with pytest.raises(ConfigError, match="the non-member set is empty"):
        validate(frame.filter(pl.col("member")), 10)


def test_window_hashes_are_equal_exactly_for_equal_windows() -> None:
    a = np.array([5, 6, 7, 8, 9])
    hashes = window_hashes(a, 3)
    assert hashes.shape == (3,)
    assert window_hashes(np.array([7, 8, 9]), 3)[0] == hashes[2]
    assert len(set(hashes.tolist())) == 3
    assert window_hashes(a[:2], 3).size == 0
    assert shared_span([a], [np.array([0, 6, 7, 8, 1])], 3) == (0, 1, 0, 1)
    assert shared_span([a], [np.array([0, 6, 7, 1, 8])], 3) is None
