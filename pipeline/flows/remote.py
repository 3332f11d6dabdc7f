"""Workers without the project's filesystem: jobs exchange their data through a DVC remote.

With ``runtime.cluster.shared_filesystem: false`` the flow ships a job to a worker as a small
spec (the stage, the job's id, the text of ``params.yaml``, ``dvc.yaml`` and ``dvc.lock``, the
remote's settings), never as paths into the project. On the worker,
:func:`run_job_in_scratch` lays out a scratch project of its own, pulls the stage's inputs
from the remote by the content hashes ``dvc.lock`` records (`dvc pull`), rebuilds the job
there from the same declarations, runs it, and pushes what it wrote as one DVC tree object.
The flow's host (:class:`RemoteExchange`) pushes each stage's inputs before its jobs go out
and pulls each job's tree back into the workspace; the stage's work and ``dvc commit`` then
run here as in a local run, so ``dvc.lock`` records the same hashes.

A retried job starts again in the same scratch folder when it lands on the same node (and
resumes from its checkpoint there), else from the start: the result is the same.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.errors import ConfigError

log = logging.getLogger(__name__)

# Per node: scratch projects and one DVC cache they share (inputs are pulled once a node).
SCRATCH = "pipeline-scratch"


@dataclass
class RemoteExchange:
    """The flow's side: the remote's settings, pushes of inputs, pulls of job outputs."""

    root: Path
    remote: str
    remote_config: dict[str, Any]
    project: Any = None  # the flow's DvcProject, once attached

    @classmethod
    def for_project(cls, root: Path, name: str | None) -> RemoteExchange:
        """The remote jobs exchange data through; a missing one is one line (before any
        job is submitted)."""
        from dvc.repo import Repo

        with Repo(str(root)) as repo:
            remotes = dict(repo.config.get("remote", {}))
            name = name or repo.config["core"].get("remote")
        how = ("add one: dvc remote add -d storage URL (a path, s3://…, ssh://… that every "
               "worker can reach), or set runtime.cluster.shared_filesystem: true")
        if name is None:
            raise ConfigError("runtime.cluster.shared_filesystem: false needs a DVC remote, "
                              f"and the project has no default remote: {how}")
        if name not in remotes:
            raise ConfigError(f"runtime.cluster.dvc_remote: no DVC remote {name!r} "
                              f"(remotes: {', '.join(sorted(remotes)) or 'none'}): {how}")
        # Config resolves a local remote's relative path against .dvc/; jobs get it absolute.
        return cls(root, name, {key: str(value) for key, value in remotes[name].items()})

    def attach(self, project) -> None:
        self.project = project

    def prepare(self, stage, jobs: list) -> list[dict]:
        """Push the stage's inputs (the outputs of the stages it depends on) and return one
        spec per job."""
        inputs = self.project.tracked_paths([str(dep) for dep in stage.deps])
        self.project.push(inputs, self.remote)
        texts = {name: (self.root / name).read_text()
                 for name in ("params.yaml", "dvc.yaml", "dvc.lock")}
        outs = [str(out.path) for out in stage.outs]
        return [{"stage": stage.name, "job": job.id, "key": _key(texts, stage.name, job.id),
                 "files": texts, "inputs": inputs, "outs": outs,
                 "remote": self.remote, "remote_config": self.remote_config} for job in jobs]

    def collect(self, outcome: dict) -> None:
        """Bring a job's outputs from the remote into the workspace."""
        files = self.project.pull_tree(outcome["tree"], self.remote, self.root)
        log.info("%s: %d file(s) pulled from DVC remote %r", outcome["job"], files,
                 self.remote)


def _key(texts: dict[str, str], stage: str, job: str) -> str:
    digest = hashlib.sha256("\0".join([texts["params.yaml"], stage, job]).encode())
    return f"{stage}-{job}-{digest.hexdigest()[:12]}"


def scratch_base() -> Path:
    return Path(os.environ.get("PIPELINE_SCRATCH") or tempfile.gettempdir()) / SCRATCH


def run_job_in_scratch(spec: dict) -> dict:
    """On a worker: pull inputs into a scratch project, run the job, push its outputs.
    Returns the job's result and the DVC tree its outputs were pushed as."""
    from dvc.repo import Repo

    from pipeline.core.device import set_threads
    from pipeline.dvcfile import find_stage
    from pipeline.runtime.stage import stage_params

    base = scratch_base()
    scratch = base / spec["key"]
    _lay_out(scratch, spec, cache=base / "cache")
    with Repo(str(scratch)) as repo:
        if spec["inputs"]:
            repo.pull(targets=[str(scratch / path) for path in spec["inputs"]],
                      remote=spec["remote"])
        declared = find_stage(spec["stage"])
        params = stage_params(declared, scratch)
        set_threads(params.runtime.threads_per_worker)  # as every job runs (numerics too)
        (job,) = [job for job in declared.jobs(params, scratch) if job.id == spec["job"]]
        before = _snapshot(scratch, spec["outs"])
        result = job.run()
        written = [path for path, stamp in _snapshot(scratch, spec["outs"]).items()
                   if before.get(path) != stamp]
        tree = _push_files(repo, scratch, written, spec["remote"])
    shutil.rmtree(scratch, ignore_errors=True)
    log.info("%s ran in %s; %d file(s) pushed to DVC remote %r", spec["job"], scratch,
             len(written), spec["remote"])
    return {"job": spec["job"], "tree": tree, "files": len(written), "result": result,
            "scratch": str(scratch)}


def _lay_out(scratch: Path, spec: dict, cache: Path) -> None:
    """A DVC project without git: the pipeline's files, the remote, a node-wide cache."""
    (scratch / ".dvc").mkdir(parents=True, exist_ok=True)
    for name, text in spec["files"].items():
        (scratch / name).write_text(text)
    lines = ["[core]", "    no_scm = true", f"    remote = {spec['remote']}",
             "[cache]", f"    dir = {cache}", "    type = \"hardlink,copy\"",
             f"['remote \"{spec['remote']}\"']"]
    lines += [f"    {key} = {value}" for key, value in spec["remote_config"].items()]
    (scratch / ".dvc" / "config").write_text("\n".join(lines) + "\n")


def _snapshot(scratch: Path, outs: list[str]) -> dict[str, tuple[int, int]]:
    """Every file under the stage's outputs, with its size and modification time."""
    stamps = {}
    for out in outs:
        path = scratch / out
        files = [path] if path.is_file() else (p for p in path.rglob("*") if p.is_file())
        for file in files:
            stat = file.stat()
            stamps[str(file.relative_to(scratch))] = (stat.st_size, stat.st_mtime_ns)
    return stamps


def _push_files(repo, scratch: Path, written: list[str], remote: str) -> str:
    """The written files as one DVC tree (paths relative to the project), pushed."""
    from dvc_data.hashfile.build import build
    from dvc_data.hashfile.transfer import transfer

    bundle = scratch / ".dvc" / "tmp" / "outputs"
    shutil.rmtree(bundle, ignore_errors=True)
    for path in written:
        target = bundle / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(scratch / path, target)
    bundle.mkdir(parents=True, exist_ok=True)
    cache = repo.cache.local
    staging, _, tree = build(cache, str(bundle), cache.fs, "md5")
    transfer(staging, cache, {tree.hash_info}, shallow=False, hardlink=False)
    # DVC transfers a tree's files only when they are named beside it.
    objects = [tree.hash_info, *(entry for _, _, entry in tree)]
    result = repo.cloud.push(objects, remote=remote)
    if result.failed:
        raise RuntimeError(f"pushing the job's outputs to DVC remote {remote!r} failed")
    shutil.rmtree(bundle, ignore_errors=True)
    return tree.hash_info.value
