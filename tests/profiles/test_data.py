"""Members per stratum and the unscored members that fill the training stream."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from pipeline.core.errors import ConfigError
from pipeline.tracks.profiles.config import ProfilesConfig
from pipeline.tracks.profiles.data import select_sequences, training_tokens
from tests.conftest import TINY_PARAMS


def _config(**data) -> ProfilesConfig:
    params = copy.deepcopy(TINY_PARAMS["profiles"])
    params["data"].update(data)
    return ProfilesConfig.model_validate(params)


def test_counts_per_stratum_and_unscored_members_trained_once():
    pool = np.arange(100 * 4).reshape(100, 4)
    held = -np.arange(20 * 4).reshape(20, 4) - 1
    config = _config(repetitions=[1, 4], counts=[10, 3], unscored_members="rest", nonmembers=5)
    sequences, unscored = select_sequences(pool, held, config)
    assert sequences["member"].sum() == 13 and len(unscored) == 87
    assert sorted(sequences.filter(sequences["member"])["repetitions"].to_list()) == \
        [1] * 10 + [4] * 3
    training = training_tokens(sequences, unscored)
    assert len(training) == 10 + 3 * 4 + 87
    scored = {tuple(t) for t in sequences.filter(sequences["member"])["tokens"].to_list()}
    assert not scored & {tuple(t) for t in unscored}  # an unscored member is never scored


def test_counts_must_match_and_the_pool_must_suffice():
    with pytest.raises(ValueError, match="data.counts"):
        _config(repetitions=[1, 4], counts=[10])
    pool = np.arange(20 * 4).reshape(20, 4)
    config = _config(repetitions=[1, 4], counts=[10, 3], unscored_members=8, nonmembers=2)
    with pytest.raises(ConfigError, match="profiles.data.unscored_members=8"):
        select_sequences(pool, pool, config)
