"""FedPFT (arXiv 2404.11536): gradient descent through a proxy, the linear transformer of Theorem 2."""
