"""dcign: Deep Convolutional Inverse Graphics Network (Kulkarni et al., NIPS 2015).

Data flows one way: factors -> renderer -> batches -> model -> inference -> evaluation
(docs/ARCHITECTURE.md).
"""

__version__ = "0.1.0"
