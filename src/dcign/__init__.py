"""dcign: Deep Convolutional Inverse Graphics Network (Kulkarni et al., NIPS 2015).

Data flows one way: factors -> renderer -> batches -> model -> evaluation.
"""

__version__ = "0.1.0"
