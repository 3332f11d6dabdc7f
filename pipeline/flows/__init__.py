"""Prefect flows over DVC's own stage graph (see :mod:`pipeline.flows.pipeline`).

Run once:        python -m pipeline.flows run [STAGE ...] [--cluster local|dask|slurm|pbs|lsf]
                 [--dask-address tcp://…]
Serve on a cron: python -m pipeline.flows serve --cron "0 3 * * *"   (needs PREFECT_API_URL)
"""
