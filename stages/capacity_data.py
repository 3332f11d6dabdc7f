"""Stage ``capacity_data``: write one uniform-token Parquet per (N, seed)."""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline.capacity import layout
from pipeline.capacity.config import CapacityParams
from pipeline.capacity.synthetic import dataset_name, datasets, uniform_tokens
from pipeline.core.io import write_tokens
from pipeline.core.stage import stage_main

log = logging.getLogger(__name__)


def work(params: CapacityParams, root: Path) -> None:
    data = params.capacity.data
    for n_sequences, seed in datasets(data):
        tokens = uniform_tokens(n_sequences, data.seq_len, data.vocab_size, seed)
        path = layout.synthetic_dataset(dataset_name(n_sequences, seed), root)
        write_tokens(tokens, data.token_dtype, path)
        log.info("wrote %s (%d × %d tokens, V=%d)", path, n_sequences, data.seq_len,
                 data.vocab_size)


PARAMS = CapacityParams
main = stage_main(__name__)

if __name__ == "__main__":
    main()
