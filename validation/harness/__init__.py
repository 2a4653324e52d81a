"""The paper-agnostic harness: units, claims, budgets, executors, runner, results store, records, report, figures, statistics.

It imports no paper module: claims register themselves when their module is imported, and the
command line (:mod:`fedtheory.cli`) is what imports them.
"""
