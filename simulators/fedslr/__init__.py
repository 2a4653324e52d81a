"""Simulators of arXiv 2302.11051 (FedSLR): the two-stage algorithm and its problems (synthetic matrix regression)."""
