"""How work runs, never what it computes: the local scheduler of jobs (a process pool with
one progress bar), the stage runner that `dvc repro` and the Prefect flow share, and the
command-line plumbing. Nothing here enters a fingerprint or a DVC dependency, so editing it
makes nothing stale."""
