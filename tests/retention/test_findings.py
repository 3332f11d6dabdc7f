"""The retention findings round-trip through JSON, and the report, the metrics file and the
artifact are rendered from the findings alone."""

from __future__ import annotations

from pipeline.core.report import read_findings, write_findings
from pipeline.tracks.retention import layout
from pipeline.tracks.retention.findings import (
    ChunkRow,
    Claim,
    MemoryRow,
    RetentionFindings,
    RetentionRow,
    Setting,
)
from pipeline.tracks.retention.report import render_report
from pipeline.tracks.retention.track import artifacts


def findings() -> RetentionFindings:
    setting = Setting(corpus="stand-in", vocab_size=64, seq_len=8, memory_width=16,
                      memory_state="pre_norm", decoder_input="unroll", decoder_window=16,
                      n_chunks=2, chunk_len=4)
    row = RetentionRow(run_id="probe-lm-b4", encoder="lm-b4", kind="causal LM", budget=4000,
                       length=8, lm_heldout_bits=5.25, accuracy=0.125, train_accuracy=None,
                       ce_bits=5.5, null_ce_bits=6.0, ce_ratio=0.9166, retained_fraction=0.08,
                       majority_rate=0.05, bits_per_dimension=3.0)
    memory = MemoryRow(run_id="causal-frozen", objective="causal", memory="frozen",
                       causal_ce_bits=5.0, train_causal_ce_bits=4.9, causal_accuracy=0.2,
                       copy_accuracy=0.1, blank_copy_accuracy=0.05,
                       train_blank_copy_accuracy=0.06, causal_ce_vs_no_memory=None,
                       encoder_retention_accuracy=0.3)
    return RetentionFindings(
        setting=setting, warnings=["the input carries only 3.00 bits per memory dimension"],
        claims=[Claim(claim_id="lm_near_floor", claim="Causal LMs keep little", ours="0.917",
                      verdict="reproduced")],
        bits_per_dimension=3.0, retention=[row], memory=[memory], chunks=["0", "1"],
        chunk_rows=[ChunkRow(run_id="causal-frozen", ce_bits=[5.125, None])],
        lm_heldout_bits={"4000": 5.25}, lm_plateau_gap_bits=None)


def test_findings_round_trip_through_json(tmp_path):
    original = findings()
    write_findings(original, tmp_path / "findings.json")
    assert read_findings(RetentionFindings, tmp_path / "findings.json") == original


def test_report_metrics_and_artifact_from_findings_alone(tmp_path):
    found = findings()
    report = render_report(found)
    assert "Degenerate regime" in report and "3.00 bits per memory dimension" in report
    assert "| Causal LMs keep little | 0.917 | **reproduced** |" in report
    assert "| lm-b4 | causal LM | 4,000 | 8 | 5.250 | 0.125 | – |" in report
    assert "| chunk 0 | chunk 1 |" in report and "| causal-frozen | 5.125 | – |" in report
    metrics = found.metrics()
    assert metrics["degenerate"] is True
    assert metrics["verdicts"] == {"lm_near_floor": "reproduced"}
    assert metrics["retention"]["probe-lm-b4"] == {
        "accuracy": 0.125, "ce_bits": 5.5, "ce_ratio": 0.9166, "retained_fraction": 0.08,
        "length": 8}
    assert metrics["memory"]["causal-frozen"]["causal_ce_vs_no_memory"] is None
    write_findings(found, tmp_path / layout.FINDINGS)
    (summary,) = artifacts(tmp_path)
    assert "| lm_near_floor | reproduced |" in summary.markdown
    assert (tmp_path / layout.REPORT).resolve().as_uri() in summary.markdown
