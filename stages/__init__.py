"""DVC's entry point to every stage: ``python -m stages <name>`` (the ``cmd`` of each stage in
``dvc.yaml``). The stages themselves are declared by the tracks (pipeline/tracks/*/track.py)."""
