"""Stage 3, model: the lattice network and what acts on its parameters.

``lattice`` (the network; ``outputs``, what it returns), ``costs`` and ``objective`` (the loss), ``proximal`` (breadth and
depth pressure), ``growth`` (when and how far the box grows), ``compaction`` (when it
shrinks), ``reshape`` (growing and shrinking the tensors, with the optimiser's state),
``topology`` (the active subgraph, Numba) and ``memory`` (what a box needs). Imports only
from ``growsim.spec``.
"""
