"""Stage 7, analysis: numbers, tables, figures and reports read from what runs wrote.

``findings`` (the paper's questions), ``statistics`` (bootstrap, Holm), ``response`` and
``reaction_times`` (sweep and human-data analyses), ``figures`` (matplotlib Figures),
``report`` and ``sweep_report``,
``topology_table`` and ``summary``. Reads stores with plain xarray.
"""
