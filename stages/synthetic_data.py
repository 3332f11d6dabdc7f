"""Stage ``synthetic_data``: write one uniform-token Parquet per (N, seed)."""

from __future__ import annotations

import logging

from pipeline import layout
from pipeline.cli import run_stage
from pipeline.config import Params, load_params
from pipeline.grid import datasets
from pipeline.synthetic import dataset_name, uniform_tokens, write_tokens

log = logging.getLogger(__name__)


def make_synthetic_data(params: Params) -> None:
    config = params.synthetic
    for n_sequences, seed in datasets(params):
        tokens = uniform_tokens(n_sequences, config.seq_len, config.vocab_size, seed)
        path = layout.synthetic_dataset(dataset_name(n_sequences, seed))
        write_tokens(tokens, config.token_dtype, path)
        log.info("wrote %s (%d × %d tokens, V=%d)", path, n_sequences, config.seq_len,
                 config.vocab_size)


def main() -> None:
    make_synthetic_data(load_params())


if __name__ == "__main__":
    run_stage(main)
