"""Named parameter presets, merged into ``params.yaml`` with one command.

    python -m pipeline.presets paper     # the paper's grid: 16 shapes, V=2048, S=64, 5 seeds, bf16,
                                         # its text track (FineWeb, GPT-2 tokenizer, 8 layers)
                                         # and its profiles (Pythia 70m-12b, the Pile, fp16)
    python -m pipeline.presets paper-retention   # Badger 2026's scale: FineWeb-edu, 8k BPE,
                                         # 512-token retention, 4 × 256-token memory models
    python -m pipeline.presets fineweb-local     # the text track on ../shared/data's FineWeb
                                         # sample, with a 1×32 text shape (CPU, ~18 min)
    git checkout params.yaml             # back to the laptop default

The merge keeps every other key and its comment, drops the comments beside the values it
replaces (they described the old values), and validates the result before writing it, so
``dvc params diff`` shows exactly what the switch changed.
"""

from __future__ import annotations

import argparse
import copy
import io
from pathlib import Path

from ruamel.yaml import YAML

from pipeline.core.io import write_text
from pipeline.params import PARAMS_FILE, parse_params

PAPER_SHAPES = [
    {"n_layer": n_layer, "d_model": d_model, "n_head": d_model // 16}
    for n_layer in (1, 2, 4, 8)
    for d_model in (32, 64, 128, 256)
]

PRESETS: dict[str, dict] = {
    # Morris et al. 2025, Table 1: V=2048, S=64, five seeds, bf16 on one GPU, batch 2048.
    # Dataset sizes run from well below the smallest capacity (1×32: ~460 sequences at 3.6
    # bits/param) to well above the largest (8×256: ~36k sequences). The paper trained 10^6
    # steps; runs stop early once a dataset is fully memorized.
    "paper": {
        "runtime": {
            "precision": "bf16",
            "device": "cuda",
            "checkpoint_every": 10_000,
            "workers": 1,
            "threads_per_worker": 4,
        },
        "capacity": {
            "data": {
                "vocab_size": 2048,
                "seq_len": 64,
                "dataset_sizes": [2**k for k in range(8, 18)],
                "seeds": [0, 1, 2, 3, 4],
            },
            "models": PAPER_SHAPES,
            "train": {
                "steps": 1_000_000,
                "batch_size": 2048,
                "lr": 0.001,
                "eval_points": 50,
            },
            "score": {"first_token": "skip", "batch_size": 4096},
        },
        # Text (SCIENCE.md §1): FineWeb, GPT-2 tokenizer, 64-token sequences, 8 layers ×
        # d ∈ {32, 64, 128, 256} (1.71M-19.2M parameters with vocab 50257). N spans the
        # smallest model's capacity (~6 Mbit ≈ 25k sequences of ~250 bits) to beyond the
        # largest's (~70 Mbit ≈ 280k). Steps and learning rate are not stated for text.
        "text": {
            "corpus": {
                "source": "fineweb-hub",
                "path": None,
                "max_documents": 300_000,
                "tokenizer": "gpt2",
                "seq_len": 64,
                "holdout_fraction": 0.01,
                "max_holdout": 10_000,
            },
            "configs": [{"n_layer": 8, "d_model": d, "n_head": d // 16}
                        for d in (32, 64, 128, 256)],
            "dataset_sizes": [2**k for k in range(12, 22)],
            "seeds": [0, 1, 2, 3, 4],
            # The paper's largest N (~524 Mbit) is x ≈ 7.5 for its largest model (α·params
            # ≈ 70 Mbit), so the default's x ≥ 30 cannot hold at this scale.
            "x_reach": 5,
            "oracle_configs": [{"n_layer": 8, "d_model": 384, "n_head": 6},
                               {"n_layer": 12, "d_model": 512, "n_head": 8}],
            "train": {
                "steps": 100_000,
                "batch_size": 1024,
                "lr": 0.001,
                "eval_points": 20,
            },
            "reference_train": {
                "steps": 100_000,
                "batch_size": 1024,
                "lr": 0.001,
                "eval_points": 2,
            },
            "extraction_prefixes": [8, 16, 32],
            "max_extraction_sequences": 10_000,
            "score_batch_size": 4096,
        },
        # Profiles (SCIENCE.md §2): Pythia-deduped 70m-12b at step 143000 (download each from
        # the Hub, EleutherAI/pythia-<size>-deduped, into models/), scored in fp16 on the Pile
        # as Pythia saw it: pre-tokenized sequences (EleutherAI's preshuffled deduped Pile,
        # Pythia's tokenizer) as members, Pile sequences outside the training data as
        # non-members, both as Parquet files with a `tokens` column. The paper's grid: L in
        # {16, 32, 48, 64} at k = 32, k in {32, 48, 64, 96} at L = 16; its predictor.
        "profiles": {
            "data": {
                "source": "tokens",
                "members_path": "data/pile/members.parquet",
                "nonmembers_path": "data/pile/nonmembers.parquet",
                "token_column": "tokens",
                "vocab_size": 50_277,
                "repetitions": [1],
                "members_per_repetition": 100_000,
                "nonmembers": 10_000,
            },
            "model_source": "hf",
            "hf_models": [f"models/pythia-{size}-deduped"
                          for size in ("70m", "160m", "410m", "1b", "2.8b", "6.9b", "12b")],
            "grid": {"k": 32, "length": 16, "lengths": [16, 32, 48, 64],
                     "contexts": [32, 48, 64, 96]},
            "precision": "fp16",
            "score_batch_size": 128,
            "predictor": {"n_layer": 4, "n_head": 8, "epochs": 30, "batch_size": 128,
                          "lr": 0.0001, "max_per_level": 2000},
        },
    },
}


# Badger 2026 (SCIENCE.md §3, the original code's settings): FineWeb-edu, an 8k BPE, 512-token
# retention with d = 512 encoders and 8-layer decoders, memory models of 4 × 256-token chunks
# with a 16-layer decoder; batch 128 (retention) / 64 (memory), lr 2e-4, 200k steps (the
# curriculum 100k blank-copy + 100k combined). Its corpus (1,024-token sequences of an 8k BPE)
# is not the Morris text track's (64 tokens, GPT-2 BPE): the two presets are alternatives.
_BADGER_TRAIN = {"steps": 200_000, "lr": 2e-4, "warmup_fraction": 0.0025, "eval_points": 2,
                 "early_stop": False, "min_lr_ratio": 0.0}
_BADGER_LAYERS = {"n_layer": 8, "d_model": 512, "n_head": 4}
PRESETS["paper-retention"] = {
    "runtime": PRESETS["paper"]["runtime"],
    "text": {
        "corpus": {
            "source": "fineweb-hub",
            "path": None,
            "hf_repo": "HuggingFaceFW/fineweb-edu",
            "hf_file": "sample/10BT/000_00000.parquet",
            "max_documents": None,
            "tokenizer": "bpe",
            "bpe_vocab_size": 8000,
            "seq_len": 1024,
            "holdout_fraction": 0.01,
            "max_holdout": 10_000,
        },
        "extraction_prefixes": [8, 16, 32],
    },
    "retention": {
        "seq_len": 512,
        "max_train_sequences": None,
        "max_eval_sequences": 10_000,
        "eval_batch_size": 256,
        "encoders": {
            "model": _BADGER_LAYERS,
            "memory_state": "pre_norm",
            "lm_budgets": [0.0, 0.1, 1.0],
            "lm_train": {**_BADGER_TRAIN, "batch_size": 128},
            "autoencoder_decoder": {"model": _BADGER_LAYERS, "input": "unroll", "window": None},
            "autoencoder_train": {**_BADGER_TRAIN, "batch_size": 128},
        },
        "decoder": {"model": _BADGER_LAYERS, "input": "unroll", "window": None,
                    "train": {**_BADGER_TRAIN, "batch_size": 128}},
        "memory": {
            "n_chunks": 4,
            "chunk_len": 256,
            "decoder": {"n_layer": 16, "d_model": 512, "n_head": 4},
            "curriculum_fraction": 0.5,
            "train": {**_BADGER_TRAIN, "batch_size": 64},
        },
    },
}

# The text track on the local FineWeb sample (../shared/data, not in the repository): its
# 61k member sequences carry x >= 30 for a 1x32 model, which the offline corpus's 4.4k cannot,
# so the text grid can use a shape that codes text closer to its oracle than the default 1x8.
# Measured (README): the peak is 0.59 of the identical architecture's capacity (0.34 for the
# default), extraction is non-zero up to the peak, and the text part takes about 18 minutes.
PRESETS["fineweb-local"] = {
    "text": {
        "corpus": {"source": "local", "path": "../shared/data/fineweb-legal-2800.parquet"},
        "configs": [{"n_layer": 1, "d_model": 32, "n_head": 2}],
        "dataset_sizes": [2**k for k in range(6, 15)],
        "identical_capacity": {"dataset_sizes": [256, 512]},
    },
}


def merge(base: dict, overrides: dict) -> dict:
    """Deep-merge ``overrides`` into ``base`` in place (lists are replaced, not merged). The
    comment beside a replaced value is dropped with it: it explained the old value, and the
    meaning of every key is in docs/params.md."""
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
            continue
        base[key] = copy.deepcopy(value)
        comments = getattr(base, "ca", None)
        if comments is not None:
            comments.items.pop(key, None)
    return base


def apply_preset(name: str, path: str | Path = PARAMS_FILE) -> None:
    yaml = YAML()
    yaml.width = 100
    document = yaml.load(Path(path).read_text())
    merge(document, PRESETS[name])
    parse_params(_plain(document), f"{path} with preset {name!r}")
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    write_text(buffer.getvalue(), path)


def _plain(node):
    """ruamel's round-trip containers as plain dicts and lists, for validation."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Merge a named preset into params.yaml.")
    parser.add_argument("preset", choices=sorted(PRESETS))
    parser.add_argument("--params", default=PARAMS_FILE)
    args = parser.parse_args(argv)
    apply_preset(args.preset, args.params)
    print(f"{args.params}: applied preset {args.preset!r}; run `dvc repro` (or `dvc exp run`).")


if __name__ == "__main__":
    main()
