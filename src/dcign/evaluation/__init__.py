"""Evaluation: Fig. 6 correlations, latent traversals, reconstructions, novel views, reports."""
