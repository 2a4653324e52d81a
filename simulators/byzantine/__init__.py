"""Simulators of arXiv 2409.20329 (Byzantine-robust personalized FL): mean estimation, Algorithm 1, Algorithm 1 on MiniLM."""
