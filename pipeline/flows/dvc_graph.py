"""DVC's view of the project, for the flow: the stage graph, staleness, and the repository
lock, used exactly as `dvc repro` uses them.

The flow holds DVC's repository lock from start to end (a `dvc repro` started meanwhile
fails at once with DVC's "Unable to acquire lock"), and every DVC operation goes through one
:class:`DvcProject` under a thread lock, so stage commits are serialized.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dvc.lock import LockError
from dvc.repo import Repo, lock_repo

from pipeline.core.errors import PipelineError
from pipeline.core.io import atomic_path


class DvcProject:
    """One DVC repository held open and locked by the flow."""

    def __init__(self, repo: Repo):
        self.repo = repo
        self._lock = threading.Lock()
        # DVC addresses a stage relative to the working directory; ours may be elsewhere.
        self._dvcfile = str(Path(repo.root_dir) / "dvc.yaml")

    def stage_graph(self) -> dict[str, list[str]]:
        """Each stage of ``dvc.yaml`` with the stages it depends on (from DVC's own graph)."""
        with self._lock:
            graph = self.repo.index.graph
            return {stage.name: sorted(up.name for up in graph.successors(stage))
                    for stage in graph.nodes}

    def is_stale(self, stage: str) -> bool:
        """What `dvc status <stage>` says: changed deps, params, outs or command."""
        with self._lock:
            return bool(self.repo.status(targets=[self._target(stage)]))

    def remove_outputs(self, stage: str) -> None:
        """Remove the stage's non-persistent outputs before it runs, as `dvc repro` does, so a
        shrunken grid leaves no stale file behind."""
        with self._lock:
            (dvc_stage,) = self.repo.stage.collect(self._target(stage))
            dvc_stage.remove_outs(ignore_remove=False, force=False)

    def commit(self, stage: str) -> None:
        """Record the stage's deps, params and outs in dvc.lock, as `dvc repro` would."""
        with self._lock:
            self.repo.commit(self._target(stage), force=True)
            # Cached stage and index objects describe dvc.lock as it was; drop them.
            self.repo._reset()

    def tracked_paths(self, paths: list[str]) -> list[str]:
        """Those of ``paths`` that are a stage's cached outputs (what a remote can hold)."""
        with self._lock:
            outs = {str(out.fs_path) for out in self.repo.index.outs if out.use_cache}
        root = Path(self.repo.root_dir)
        return [path for path in paths if str(root / path) in outs]

    def push(self, paths: list[str], remote: str) -> None:
        """`dvc push` of these outputs (what is already there is not sent again)."""
        if not paths:
            return
        root = Path(self.repo.root_dir)
        with self._lock:
            self.repo.push(targets=[str(root / path) for path in paths], remote=remote)

    def pull_tree(self, tree: str, remote: str, root: Path) -> int:
        """Fetch a DVC tree object (a job's outputs) from ``remote`` and write its files into
        the workspace at ``root`` (each atomically); returns how many."""
        from dvc_data.hashfile.hash_info import HashInfo
        from dvc_data.hashfile.tree import Tree

        with self._lock:
            cache = self.repo.cache.local
            hash_info = HashInfo("md5", tree)
            # The tree first, then the files it names (DVC transfers only what it is told).
            failed = self.repo.cloud.pull([hash_info], remote=remote).failed
            files = Tree.load(cache, hash_info) if not failed else None
            if files is not None:
                failed = self.repo.cloud.pull([entry for _, _, entry in files],
                                              remote=remote).failed
            if failed:
                raise RuntimeError(f"pulling a job's outputs ({tree}) from DVC remote "
                                   f"{remote!r} failed")
            for key, _, entry in files:
                target = root.joinpath(*key)
                target.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(target) as partial:
                    shutil.copyfile(cache.oid_to_path(entry.value), partial)
            return len(files)

    def _target(self, stage: str) -> str:
        return f"{self._dvcfile}:{stage}"


class ProjectBusy(PipelineError):
    """Another `dvc repro` or flow run holds the project's DVC lock."""


@contextmanager
def locked_project(root: str | Path) -> Iterator[DvcProject]:
    """The repository at ``root`` with DVC's lock held for the whole block; a lock held
    elsewhere is :class:`ProjectBusy`, at once."""
    with Repo(str(root)) as repo:
        try:
            lock = lock_repo(repo)
            lock.__enter__()
        except LockError:
            raise ProjectBusy(f"{root}: another `dvc repro` or flow run holds the project's DVC "
                              "lock (.dvc/tmp/lock); this run changed nothing") from None
        try:
            yield DvcProject(repo)
        finally:
            lock.__exit__(None, None, None)
