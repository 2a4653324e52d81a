"""Simulators of arXiv 2302.11051 (FedSLR): the two-stage algorithm (:mod:`.algorithm`) and its problems,
synthetic matrix regression (:mod:`.matrix_regression`) and an MLP on client datasets (:mod:`.mlp`)."""
