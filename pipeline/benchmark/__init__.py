"""Benchmarks of the trainer and of the GPU path (scripts, not tests), one module each:
``python -m pipeline.benchmark <name>``.

* ``throughput`` (:mod:`.throughput`): the trainer's tokens/s against a plain
  ``GPT2LMHeadModel`` loop.
* ``stacked`` (:mod:`.stacked`): K same-shape models as one stack against one after another.
* ``memorized`` (:mod:`.memorized`): a memorized model's step, with and without the guards
  against subnormal floats.
* ``capacity`` (:mod:`.capacity`): bits/param of the 1×32 model in a wall-clock budget.
* ``gpu`` (:mod:`.gpu`): the GPU path checked and measured in one command, written as JSON;
  on a machine without CUDA the same logic on tiny shapes.
* ``tracks`` (:mod:`.tracks`): every stage of every track on tiny params, on a device.
* ``cost`` (:mod:`.grid_cost`): Table 1's full grid in GPU hours, from a ``gpu`` run's JSON.

Modules import only what their benchmark needs, so that ``gpu`` starts (and says what it
lacks) on an image with torch and transformers alone.
"""
