"""``runtime.cluster`` without a cluster: the batch script each kind gets (sizes, GPUs, queue,
account, directives, the workers' environment), the plan's batch jobs and hours, and every
bad setting as one line naming its key before anything is submitted."""

from __future__ import annotations

import copy
import os
import subprocess
import sys

import pytest

from pipeline.core.errors import ConfigError
from pipeline.flows.__main__ import deployment_name
from pipeline.flows.pipeline import describe
from pipeline.flows.runners import check_api
from pipeline.params import parse_params
from pipeline.runtime import cluster as batch
from tests.conftest import TINY_PARAMS, copy_project


def runtime(device: str = "cpu", threads: int = 1, **cluster):
    params = copy.deepcopy(TINY_PARAMS)
    params["runtime"].update(device=device, threads_per_worker=threads)
    params["runtime"]["cluster"] = cluster
    return parse_params(params).runtime


def test_a_slurm_job_books_its_cores_memory_time_queue_account_and_gpus(tmp_path):
    settings = runtime(device="cuda", threads=2, kind="slurm", cores=8, memory="32GB",
                       walltime="04:00:00", queue="gpu", account="proj42",
                       directives=["--constraint=a100"], prologue=["module load cuda"])
    script = batch.batch_script(settings, tmp_path, {"PREFECT_API_URL": "http://h:4200/api"})
    for line in ("#SBATCH -p gpu", "#SBATCH -A proj42", "#SBATCH --cpus-per-task=8",
                 "#SBATCH --mem=30G", "#SBATCH -t 04:00:00", "#SBATCH --gres=gpu:1",
                 "#SBATCH --constraint=a100", f"cd {tmp_path}", "module load cuda",
                 "export PREFECT_API_URL=http://h:4200/api", "--nthreads 1"):
        assert line in script, line
    assert batch.processes_per_job(settings) == 4  # 8 cores / 2 torch threads per job
    assert batch.batch_jobs_for(settings, 10) == 3 and batch.batch_jobs_for(settings, 100) == 4


def test_gpus_only_where_the_params_run_on_cuda():
    assert batch.gpus_per_job(runtime(kind="slurm")) == 0
    assert batch.gpus_per_job(runtime(device="cuda", kind="slurm")) == 1
    assert batch.gpus_per_job(runtime(device="cuda", kind="slurm", gpus_per_job=4)) == 4


def test_pbs_and_lsf_get_their_own_resource_syntax(tmp_path):
    pbs = batch.batch_script(runtime(device="cuda", kind="pbs", cores=4, queue="q"), tmp_path)
    assert "#PBS -l select=1:ncpus=4:mem=4GB:ngpus=1" in pbs and "#PBS -q q" in pbs
    lsf = batch.batch_script(runtime(device="cuda", kind="lsf", walltime="02:30:00"), tmp_path)
    assert "#BSUB -W 02:30" in lsf and '#BSUB -gpu "num=1"' in lsf


def test_walltimes_read_as_the_schedulers_write_them():
    assert batch.walltime_hours("04:00:00") == 4
    assert batch.walltime_hours("1-00:30:00") == 24.5
    with pytest.raises(ConfigError, match="runtime.cluster.walltime"):
        batch.walltime_hours("4 hours")


def test_no_dask_jobqueue_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask_jobqueue", None)
    with pytest.raises(ConfigError, match="runtime.cluster.kind: slurm needs dask-jobqueue"):
        batch.jobqueue_class("slurm")


def test_no_submit_command_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="runtime.cluster.kind: pbs, but qsub is not on PATH"):
        batch.check(runtime(kind="pbs"))


def test_task_runs_elsewhere_need_a_server_they_can_reach(monkeypatch):
    remote = runtime(kind="dask", address="tcp://10.1.2.3:8786")
    with pytest.raises(ConfigError, match="prefect server start --host 0.0.0.0"):
        check_api(remote, None)  # a temporary server: the workers could not report
    with pytest.raises(ConfigError, match="cannot reach"):
        check_api(remote, "http://127.0.0.1:4200/api")
    check_api(remote, "http://login-node:4200/api")
    check_api(runtime(kind="local"), None)
    check_api(runtime(kind="dask", address="tcp://127.0.0.1:8786"), None)


def test_the_plan_shows_the_batch_jobs_and_their_script(tmp_path):
    from pipeline.plan import plan, render_cluster

    params = copy.deepcopy(TINY_PARAMS)
    params["runtime"].update(device="cuda")
    params["runtime"]["cluster"] = {"kind": "slurm", "max_jobs": 2}
    params = parse_params(params)
    text = render_cluster(params, plan(params), None, 0.2, tmp_path)
    assert "at most 2 batch job(s) at once" in text and "GPU-hours" in text
    assert "#SBATCH --gres=gpu:1" in text


def test_deployment_names_follow_their_schedule():
    assert deployment_name("0 3 * * *", None) == "memorization-pipeline-daily-0300"
    assert deployment_name("0 3 * * *", 60) == "memorization-pipeline-every-60s"
    assert deployment_name("*/15 * * * 1", None) == "memorization-pipeline-cron-x-15-x-x-x-1"


def test_job_results_are_logged_as_sentences_not_reprs():
    assert describe({"run": "a", "auc": 0.912345, "n": 3}) == "run a, auc 0.9123, n 3"
    assert describe([{"x": 1}, {"y": 2}]) == "x 1; y 2"


def run_cli(project, *args, env=None):
    return subprocess.run([sys.executable, "-m", "pipeline.flows", *args], cwd=project,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_a_misspelt_key_is_one_line_and_exit_2(tmp_path):
    params = copy.deepcopy(TINY_PARAMS)
    params["runtime"]["wokers"] = 2
    project = copy_project(tmp_path / "typo", params)
    result = run_cli(project, "run")
    assert result.returncode == 2
    assert "runtime.wokers" in result.stderr and "Traceback" not in result.stderr
    assert not (project / "data").exists()


def test_an_unknown_target_and_a_partition_less_cluster_are_one_line(tmp_path):
    project = copy_project(tmp_path / "targets", TINY_PARAMS)
    result = run_cli(project, "run", "capacity_trian")
    assert result.returncode == 2 and "no stage capacity_trian" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_without_a_server_says_how_to_start_one(tmp_path):
    project = copy_project(tmp_path / "serve", TINY_PARAMS)
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    result = subprocess.run([sys.executable, "-m", "pipeline.flows", "serve"], cwd=project,
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "prefect server start" in result.stderr and "PREFECT_API_URL" in result.stderr
