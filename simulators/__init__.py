"""Batched torch simulators (``device=``, seeds as a tensor dimension).

- :mod:`fedtheory.simulators.shared`: paper-agnostic federated parts (robust aggregators, attacks,
  partitions and client datasets, DP mechanisms, LoRA helpers, seeding, config checks);
- :mod:`fedtheory.simulators.data`: real datasets and text features (offline);
- one subpackage per paper: :mod:`~fedtheory.simulators.byzantine`, :mod:`~fedtheory.simulators.promptfolio`,
  :mod:`~fedtheory.simulators.la_lora`, :mod:`~fedtheory.simulators.fedslr`.
"""
