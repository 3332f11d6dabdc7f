"""The audit track: what a causal LM someone else trained memorized of a given set of texts.

Given one or more target models (any ``AutoModelForCausalLM`` folder, or the project's own
GPT folders), optionally a reference model of the same family and tokenizer, and member and
non-member texts (or token sequences), the track measures per target:

- per-token log-probabilities, entropies and the spread of ``log p`` under the predictive
  distribution, from one batched forward pass, cached as Parquet (:mod:`.logprobs`);
- per-sequence memorization in bits against the reference, Morris et al.'s
  ``max(0, NLL_ref − NLL_target)``, and its held-out calibration (:mod:`.memorization`);
- greedy extraction over a grid of prefix and continuation lengths, exact and Chen et al.'s
  match score (:mod:`.extraction`);
- the membership attacks the field uses (LOSS, reference, zlib, min-k%, min-k%++) with ROC AUC
  and TPR at low FPR (:mod:`pipeline.core.probes.attacks`);
- a blind baseline that never sees the model, so that a membership number that only
  reflects how the member and non-member sets differ is flagged (:mod:`.blind`).

Inputs are checked before any scoring (:mod:`.inputs`, :mod:`.sources`). The track's
stages (:mod:`.track`): what is audited (:mod:`.sources`: by default the text track's own
models on their own training sequences, where the truth is known), the model passes as jobs
(:mod:`.jobs`), the measures (:mod:`.evaluate`), the findings with their known-answer checks
(:mod:`.findings`) and the report (:mod:`.report`). Definitions and citations: docs/audit.md.
"""
