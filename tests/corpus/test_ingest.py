"""Tests of text-corpus loading, deduplication, tokenization and the ingest function.

Fixtures are generated in ``tmp_path``; the real FineWeb samples are read from
``../shared/data`` beside the checkout and their tests skip when that folder is absent.
"""

from __future__ import annotations

import json
import math
import socket
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from pipeline.tracks.corpus.corpus import CorpusError, load_corpus
from pipeline.tracks.corpus.dedup import (
    exact_dedup_documents,
    near_dedup_documents,
    normalize_text,
    span_dedup_sequences,
    span_hashes,
)
from pipeline.tracks.corpus.ingest import POOLS, ingest
from pipeline.tracks.corpus.tokenize import (
    encode_texts,
    gpt2_tokenizer,
    to_sequences,
    token_dtype,
    train_bpe_tokenizer,
)
from tests.conftest import ROOT

SHARED_DATA = ROOT.parent / "shared" / "data"
HEAD_300 = SHARED_DATA / "fineweb-head-300.parquet"
LEGAL_2800 = SHARED_DATA / "fineweb-legal-2800.parquet"
# 36 made-up words ("kaben", "lodor", ...) for generated documents.
WORDS = [
    onset + coda
    for onset in ("ka", "lo", "mi", "su", "te", "ra")
    for coda in ("ben", "dor", "fix", "gal", "mun", "pet")
]


def words(n: int, seed: int) -> list[str]:
    """``n`` pseudo-random words; different seeds give near-disjoint 5-word shingles."""
    rng = np.random.default_rng(seed)
    return [WORDS[i] for i in rng.integers(0, len(WORDS), size=n)]


def document(n: int, seed: int) -> str:
    return " ".join(words(n, seed)) + "."


@pytest.fixture(scope="module")
def gpt2():
    return gpt2_tokenizer()


def need(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"shared sample {path} absent (expected in ../shared/data beside the checkout)")
    return path


# --- dedup ----------------------------------------------------------------------------


def test_normalize_text() -> None:
    assert normalize_text("  Ｈｅｌｌｏ\t\n  WORLD \u00a0 ") == "hello world"


def test_exact_dedup_removes_exact_and_whitespace_case_variants() -> None:
    df = pl.DataFrame(
        {
            "text": ["The cat sat.", "Other text", "The cat sat.", "  the  CAT\n sat. ", "x"],
            "id": ["a", "b", "c", "d", "e"],
        }
    )
    kept, removed = exact_dedup_documents(df)
    assert removed == 2
    assert kept["id"].to_list() == ["a", "b", "e"]


def test_near_dedup_removes_one_word_edit_and_keeps_different_doc() -> None:
    base = words(400, seed=1)
    edited = list(base)
    edited[200] = "zebra"
    df = pl.DataFrame(
        {
            "text": [" ".join(base), document(400, seed=2), " ".join(edited)],
            "id": ["original", "different", "edited"],
        }
    )
    kept, removed = near_dedup_documents(df, threshold=0.8)
    assert removed == 1
    assert kept["id"].to_list() == ["original", "different"]


def test_near_dedup_rejects_bad_threshold() -> None:
    with pytest.raises(ValueError, match="threshold"):
        near_dedup_documents(pl.DataFrame({"text": ["a"]}), threshold=0.0)


def test_span_dedup_with_the_full_length_drops_exact_duplicates_only() -> None:
    tokens = np.array([[1, 2], [3, 4], [1, 2], [5, 6], [3, 4], [2, 1]], dtype=np.uint16)
    assert span_dedup_sequences(tokens, 2).tolist() == [True, True, False, True, False, True]
    with pytest.raises(ValueError, match="2-D"):
        span_dedup_sequences(np.arange(4), 2)
    with pytest.raises(ValueError, match="span must lie in"):
        span_dedup_sequences(tokens, 3)


def test_span_dedup_finds_planted_shifted_and_partial_copies() -> None:
    rng = np.random.default_rng(0)
    S, K = 64, 32
    pool = rng.integers(0, 50_000, size=(200, S))  # random: no 32-token span repeats by chance
    source = rng.integers(0, 50_000, size=3 * S)
    planted = {
        10: (source[:S], True),            # the original, kept
        20: (source[7:7 + S], False),      # the same passage shifted by 7: shares 57 tokens
        30: (source[S - K:2 * S - K], False),  # shares exactly K tokens with row 10's tail
        # K - 1 tokens with row 10; more with rows 20 and 30, but those were dropped: only
        # kept sequences count, so this one stays.
        40: (source[S - K + 1:2 * S - K + 1], True),
        50: (np.concatenate([pool[3, 5:5 + K], rng.integers(0, 50_000, S - K)]), False),
        60: (np.concatenate([rng.integers(0, 50_000, S - K + 1), pool[4, :K - 1]]), True),
    }
    for row, (tokens, _) in planted.items():
        pool[row] = tokens
    keep = span_dedup_sequences(pool, K)
    for row, (_, kept) in planted.items():
        assert keep[row] == kept, row
    assert keep.sum() == 200 - 3  # rows 20, 30 and 50; every other row is kept


def test_span_hashes_equal_exactly_where_windows_do() -> None:
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, 3, size=(40, 12))  # tiny alphabet: many equal windows
    hashes = span_hashes(tokens, 4)
    windows = np.lib.stride_tricks.sliding_window_view(tokens, 4, axis=1).reshape(-1, 4)
    flat = hashes.reshape(-1)
    for i in range(0, len(flat), 7):
        same = (windows == windows[i]).all(axis=1)
        assert np.array_equal(flat == flat[i], same)


# --- tokenize -------------------------------------------------------------------------


def test_gpt2_tokenizer_known_ids(gpt2) -> None:
    assert gpt2("Hello world")["input_ids"] == [15496, 995]
    assert encode_texts(gpt2, ["Hello world"]) == [[15496, 995]]
    assert len(gpt2) == 50257
    assert gpt2.eos_token_id == 50256


def test_fast_encoding_matches_tokenizer(gpt2) -> None:
    texts = [
        "It's 2024; we'll see—naïve café ☕ costs €3.50!!\n\n\n   indented\ttabs  ",
        "Ünïcödé 文字 テキスト 😀😀 e\u0301 \x1c\x1f control \r\n CRLF",
        "   leading spaces and trailing   ",
        "",
        "numbers 1234567 and 3.14159 and 1,000,000",
    ]
    backend = gpt2.backend_tokenizer
    expected = [e.ids for e in backend.encode_batch_fast(texts, add_special_tokens=False)]
    assert encode_texts(gpt2, texts) == expected


def test_special_token_text_is_not_an_eos(gpt2) -> None:
    [ids] = encode_texts(gpt2, ["a <|endoftext|> b"])
    assert 50256 not in ids


def test_fallback_encoding_for_other_tokenizers() -> None:
    from tokenizers import normalizers

    tokenizer = train_bpe_tokenizer([document(300, seed) for seed in range(5)], vocab_size=300)
    tokenizer.backend_tokenizer.normalizer = normalizers.Lowercase()  # leaves the fast path
    texts = ["KABEN lodor <|endoftext|>", "mifix"]
    ids = encode_texts(tokenizer, texts)
    assert ids[1] == encode_texts(tokenizer, ["MIFIX"])[0]
    assert tokenizer.eos_token_id not in ids[0]
    assert not tokenizer.backend_tokenizer.encode_special_tokens


def test_to_sequences_drops_remainders() -> None:
    docs = [list(range(130)), list(range(1000, 1063)), list(range(2000, 2064))]
    seqs = to_sequences(docs, 64, vocab_size=50257)
    assert seqs.shape == (3, 64)
    assert seqs.dtype == np.uint16
    np.testing.assert_array_equal(seqs[0], np.arange(64))
    np.testing.assert_array_equal(seqs[1], np.arange(64, 128))
    np.testing.assert_array_equal(seqs[2], np.arange(2000, 2064))
    assert to_sequences([[1, 2, 3]], 64, vocab_size=50257).shape == (0, 64)
    assert token_dtype(65536) == np.uint16
    assert token_dtype(65537) == np.int32
    with pytest.raises(ValueError, match="outside the vocabulary"):
        to_sequences([[70000, 1]], 2, vocab_size=50257)


def test_trained_bpe_is_deterministic_and_compatible() -> None:
    texts = [document(300, seed) for seed in range(20)]
    first = train_bpe_tokenizer(texts, vocab_size=400)
    second = train_bpe_tokenizer(texts, vocab_size=400)
    assert first.backend_tokenizer.to_str() == second.backend_tokenizer.to_str()
    assert len(first) <= 400
    ids = encode_texts(first, texts[:3])
    assert ids == encode_texts(second, texts[:3])
    backend = first.backend_tokenizer
    assert ids == [e.ids for e in backend.encode_batch_fast(texts[:3], add_special_tokens=False)]
    assert first.decode(ids[0]) == texts[0]


# --- ingest ---------------------------------------------------------------------------


def synthetic_corpus() -> pl.DataFrame:
    shared_prefix = " ".join(words(120, seed=99))
    texts = [document(300, seed) for seed in range(30)]
    texts += [
        texts[0],  # exact duplicate
        "  " + texts[1].upper().replace(" ", "   ") + "\n",  # whitespace/case variant
        texts[2].replace(" ", " zebra ", 1),  # one-word edit: near duplicate
        # Two different documents that open with the same 120 words: they are not near
        # duplicates, but their first token sequence is identical.
        shared_prefix + " " + document(400, seed=101),
        shared_prefix + " " + document(400, seed=102),
    ]
    return pl.DataFrame({"text": texts, "id": [str(i) for i in range(len(texts))]})


def run_ingest(documents: pl.DataFrame, tokenizer, seed: int = 0, **overrides):
    options = dict(
        tokenizer=tokenizer,
        seq_len=64,
        near_dup_threshold=0.8,
        holdout_fraction=0.2,
        max_holdout=10_000,
        seed=seed,
    )
    options.update(overrides)
    return ingest(documents, **options)


def rows(a: np.ndarray) -> set[bytes]:
    return {row.tobytes() for row in a}


def test_ingest_counts_disjoint_and_deterministic(gpt2) -> None:
    corpus = synthetic_corpus()
    result = run_ingest(corpus, gpt2)
    counts = result.counts
    assert counts["documents_in"] == 35
    assert counts["exact_duplicate_documents"] == 2
    assert counts["near_duplicate_documents"] == 1
    assert counts["documents_kept"] == 32
    assert counts["span_duplicate_sequences"] >= 1
    assert counts["sequences_kept"] == (counts["sequences_total"]
                                        - counts["span_duplicate_sequences"])
    assert counts["members"] + counts["nonmembers"] == counts["sequences_kept"]
    assert counts["nonmembers_documents"] == math.ceil(0.2 * 32)
    assert result.members.shape == (counts["members"], 64)
    assert result.members.dtype == np.uint16
    assert not rows(result.members) & rows(result.nonmembers)
    assert len(rows(result.members)) == counts["members"]
    # By document: no document gives both members and non-members.
    assert not set(result.member_documents) & set(result.nonmember_documents)
    # And no 64-token span (the default span here: seq_len) repeats across the pool.
    everything = np.concatenate([result.members, result.nonmembers])
    assert span_dedup_sequences(everything, 64).all()

    again = run_ingest(corpus, gpt2)
    assert result.members.tobytes() == again.members.tobytes()
    assert result.nonmembers.tobytes() == again.nonmembers.tobytes()
    assert result.counts == again.counts

    reseeded = run_ingest(corpus, gpt2, seed=1)
    assert reseeded.members.tobytes() != result.members.tobytes()
    assert rows(reseeded.members) | rows(reseeded.nonmembers) == rows(result.members) | rows(
        result.nonmembers
    )


def test_four_pools_share_no_document_and_no_span(gpt2) -> None:
    result = run_ingest(synthetic_corpus(), gpt2, seq_len=32, dedup_span=16,
                        reference_fraction=0.3, validation_fraction=0.1)
    counts = result.counts
    assert [counts[f"{pool}_documents"] for pool in POOLS] == [32 - 7 - 4 - 10, 10, 4, 7]
    pools = {name: result.pool(name) for name in POOLS}
    assert all(len(pools[name]) == counts[name] > 0 for name in POOLS)
    documents = [set(result.documents[name].tolist()) for name in POOLS]
    assert all(not a & b for i, a in enumerate(documents) for b in documents[i + 1:])
    assert span_dedup_sequences(np.concatenate(list(pools.values())), 16).all()


def test_ingest_caps_holdout(gpt2) -> None:
    result = run_ingest(synthetic_corpus(), gpt2, max_holdout=3)
    assert result.counts["nonmembers"] == 3


def test_ingest_with_trained_tokenizer() -> None:
    corpus = synthetic_corpus()
    tokenizer = train_bpe_tokenizer(corpus["text"].to_list(), vocab_size=300)
    result = run_ingest(corpus, tokenizer, seq_len=32)
    assert result.counts["sequences_kept"] > 0
    assert not rows(result.members) & rows(result.nonmembers)


def test_ingest_raises_when_nothing_survives(gpt2) -> None:
    corpus = pl.DataFrame({"text": ["short text"] * 3 + ["SHORT   text", "another short one"]})
    with pytest.raises(CorpusError, match=r"no 64-token sequence left after tokenization.*2 "):
        run_ingest(corpus, gpt2)
    with pytest.raises(CorpusError, match="corpus is empty"):
        run_ingest(pl.DataFrame({"text": []}, schema={"text": pl.Utf8}), gpt2)


def test_ingest_rejects_bad_input(gpt2) -> None:
    corpus = synthetic_corpus()
    with pytest.raises(ValueError, match="near_dup_threshold"):
        run_ingest(corpus, gpt2, near_dup_threshold=0.0)
    with pytest.raises(ValueError, match="holdout_fraction"):
        run_ingest(corpus, gpt2, holdout_fraction=1.0)
    with pytest.raises(CorpusError, match="'text' column; columns present: \\['body'\\]"):
        run_ingest(pl.DataFrame({"body": ["x"]}), gpt2)


# --- corpus loading -------------------------------------------------------------------


def write_fineweb_fixtures(folder: Path) -> tuple[Path, Path]:
    """A FineWeb-schema Parquet and JSONL file with extra columns and bad rows."""
    parquet = folder / "a.parquet"
    pl.DataFrame(
        {
            "text": [document(50, 1), "", "   \n\t ", document(50, 2), None],
            "id": ["<urn:1>", "<urn:2>", "<urn:3>", "<urn:4>", "<urn:5>"],
            "url": ["https://example.com/"] * 5,
            "dump": ["CC-MAIN-2024-10"] * 5,
            "language_score": [0.9] * 5,
        }
    ).write_parquet(parquet)
    jsonl = folder / "b.jsonl"
    lines = [
        json.dumps({"text": document(50, 3), "id": 7, "url": "u", "token_count": 12}).encode(),
        b"",
        b'{"text": "bad \xff\xfe bytes", "id": 8}',
        json.dumps({"text": "  ", "id": 9}).encode(),
        json.dumps({"text": document(50, 4)}).encode(),
    ]
    jsonl.write_bytes(b"\n".join(lines) + b"\n")
    return parquet, jsonl


def test_load_local_parquet_and_jsonl(tmp_path: Path) -> None:
    parquet, jsonl = write_fineweb_fixtures(tmp_path)
    docs, counts = load_corpus("local", path=str(tmp_path / "*"))
    assert docs.columns == ["text", "id"]
    assert docs.schema["id"] == pl.Utf8
    assert docs["id"].to_list() == ["<urn:1>", "<urn:4>", "7", None]
    assert docs["text"][0] == document(50, 1)
    assert counts["files"] == 2
    assert counts["documents_read"] == 9
    assert counts["skipped_empty"] == 4
    assert counts["skipped_undecodable"] == 1
    assert counts["documents"] == 4

    limited, _ = load_corpus("local", path=str(parquet), max_documents=1)
    assert limited["id"].to_list() == ["<urn:1>"]
    from_dir, _ = load_corpus("local", path=str(tmp_path))
    assert from_dir.equals(docs)


def test_missing_text_column_names_file_and_columns(tmp_path: Path) -> None:
    bad = tmp_path / "no_text.parquet"
    pl.DataFrame({"content": ["x"], "id": ["1"]}).write_parquet(bad)
    with pytest.raises(CorpusError, match=r"no_text\.parquet.*'text'.*content, id"):
        load_corpus("local", path=str(bad))
    bad_jsonl = tmp_path / "no_text.jsonl"
    bad_jsonl.write_text('{"text": "fine"}\n{"body": "x"}\n')
    with pytest.raises(
        CorpusError, match=r"no_text\.jsonl:2: missing required column 'text'.*body"
    ):
        load_corpus("local", path=str(bad_jsonl))


def test_local_errors_name_the_input(tmp_path: Path) -> None:
    not_json = tmp_path / "broken.jsonl"
    not_json.write_text('{"text": "ok"}\n{"text": oops}\n')
    with pytest.raises(CorpusError, match=r"broken\.jsonl:2: not valid JSON"):
        load_corpus("local", path=str(not_json))
    with pytest.raises(CorpusError, match=r"glob .*nothing-\*\.parquet.* matches no files"):
        load_corpus("local", path=str(tmp_path / "nothing-*.parquet"))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CorpusError, match=r"notes\.txt: unsupported file type"):
        load_corpus("local", path=str(tmp_path / "notes.txt"))
    (tmp_path / "fake.parquet").write_text("not parquet")
    with pytest.raises(CorpusError, match=r"fake\.parquet: not a readable Parquet file"):
        load_corpus("local", path=str(tmp_path / "fake.parquet"))
    with pytest.raises(CorpusError, match="needs a path"):
        load_corpus("local")
    with pytest.raises(CorpusError, match="unknown corpus source"):
        load_corpus("fineweb")


def test_fineweb_hub_offline_fails_fast_with_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(CorpusError, match=r'HF_HUB_OFFLINE.*source "local".*\.\./shared/data'):
        load_corpus("fineweb-hub", max_documents=10)
    assert time.perf_counter() - start < 1.0


def test_fineweb_hub_unreachable_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a local port that nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for name in ("HF_HUB_OFFLINE", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    start = time.perf_counter()
    with pytest.raises(CorpusError, match=r'unreachable.*source "local"'):
        load_corpus("fineweb-hub", max_documents=10)
    assert time.perf_counter() - start < 5.0


def test_python_docs_corpus_is_labelled_and_deterministic() -> None:
    docs, counts = load_corpus("python-docs", max_documents=100)
    assert docs.height == 100
    assert "Python documentation" in counts["corpus_name"]
    assert "FineWeb" in counts["corpus_name"] and "NOT FineWeb" in counts["corpus_name"]
    assert docs["text"].str.len_chars().min() >= 200
    assert docs["id"][0].startswith("pydoc-topic:")
    assert docs["id"][-1].startswith("stdlib:")
    again, _ = load_corpus("python-docs", max_documents=100)
    assert docs.equals(again)


# --- real FineWeb samples -------------------------------------------------------------


def test_fineweb_head_300_ingest(gpt2) -> None:
    docs, counts = load_corpus("local", path=str(need(HEAD_300)))
    assert counts["documents"] == 300 and counts["skipped_empty"] == 0
    assert docs["text"][0].startswith(
        "How AP reported in all formats from tornado-stricken regions"
    )
    texts = docs["text"].to_list()
    backend = gpt2.backend_tokenizer
    expected = [e.ids for e in backend.encode_batch_fast(texts, add_special_tokens=False)]
    assert encode_texts(gpt2, texts) == expected
    result = run_ingest(docs, gpt2, holdout_fraction=0.1)
    c = result.counts
    assert c["documents_in"] == 300
    assert (
        c["documents_kept"] == 300 - c["exact_duplicate_documents"] - c["near_duplicate_documents"]
    )
    assert 3000 < c["sequences_kept"] <= c["sequences_total"] <= 215_818 // 64
    assert not rows(result.members) & rows(result.nonmembers)


def test_fineweb_legal_2800_loads_and_ingests_a_slice(gpt2) -> None:
    docs, counts = load_corpus("local", path=str(need(LEGAL_2800)))
    assert docs.height == counts["documents_read"] == 2800
    assert docs["id"].n_unique() == 2800
    result = run_ingest(docs.head(200), gpt2, holdout_fraction=0.1)
    assert result.counts["sequences_kept"] > 1000
    assert not rows(result.members) & rows(result.nonmembers)
