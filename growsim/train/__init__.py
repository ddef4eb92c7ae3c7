"""Stage 4, train: the loop that turns a spec into a trained, grown network.

``trainer`` (the loop, growth and compaction at checkpoints), ``optimisation`` (the
optimiser, the loss function, compiled or not, and the breadth and depth pressure),
``backbone`` (starting from another run's network: training.init_from), ``run_data``
(splits, fixed evaluation sets, batches), ``evaluation`` (predictions and metrics on a
split), ``checkpoint_file`` (``checkpoint.pt``), ``schedules`` (cost and learning-rate
schedules) and ``checkpoint_state`` (what a checkpoint hands the recorder it is given). Imports from
``spec``, ``data`` and ``model``; it never writes the trajectory itself.
"""
