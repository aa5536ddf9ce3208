"""Disentanglement metrics with disentanglement_lib's protocol (Locatello et al., ICML 2019).

Every metric has the disentanglement_lib signature, so code written for it ports over::

    scores = dcign.metrics.mig(ground_truth_data, representation_function, random_state, **settings)

* ``ground_truth_data``: a :class:`GroundTruthData` (``num_factors``,
  ``factors_num_values``, ``sample_factors``, ``sample_observations_from_factors``).
  Factors are discrete indices; data sets with continuous factors (angles)
  expose them discretised into bins.
* ``representation_function``: observations ``(N, ...)`` -> codes ``(N, D)``
  numpy float array (e.g. the encoder means).
* ``random_state``: a ``numpy.random.RandomState`` (advanced in place) or an int
  seed. The same seed gives the same dict.

Each returns a dict of scores under disentanglement_lib's key names (the
headline key of each metric is in :data:`HEADLINE_KEYS`) plus ``"settings"``:
the number of points, bins, batch size, classifier and its parameters and the
seed, so that a number can be reproduced. Defaults are disentanglement_lib's.

=====================  ==========================================  ====================
metric                 paper                                       headline key
=====================  ==========================================  ====================
``beta_vae_score``     Higgins et al. 2017                         ``eval_accuracy``
``factor_vae_score``   Kim & Mnih 2018                             ``eval_accuracy``
``mig``                Chen et al. 2018                            ``discrete_mig``
``dci``                Eastwood & Williams 2018                    ``disentanglement``
``sap``                Kumar et al. 2018                           ``SAP_score``
``modularity``         Ridgeway & Mozer 2018                       ``modularity_score``
=====================  ==========================================  ====================

MIG, DCI, SAP and modularity also come as pure functions of sampled
``(factors, codes)`` arrays (``*_from_codes``); DCI and modularity also from
their importance / mutual-information matrices. DCI with the field's GBT
default is slow at 10,000 points (about a minute for 10 codes, hours for 200);
``dci(..., model="extra_trees")`` (:data:`EXTRA_TREES_PARAMS`) is a cheaper,
documented alternative whose numbers are not comparable with published ones.
"""

from .beta_vae import beta_vae_score
from .dci import EXTRA_TREES_PARAMS, dci, dci_from_codes, dci_from_importance
from .factor_vae import factor_vae_score
from .ground_truth import GroundTruthData, RepresentationFunction, sample
from .mig import mig, mig_from_codes
from .modularity import explicitness_from_codes, modularity, modularity_from_codes, modularity_from_mi
from .sap import sap, sap_from_codes

HEADLINE_KEYS: dict[str, str] = {
    "beta_vae_score": "eval_accuracy",
    "factor_vae_score": "eval_accuracy",
    "mig": "discrete_mig",
    "dci": "disentanglement",
    "sap": "SAP_score",
    "modularity": "modularity_score",
}
"""Metric name -> key of its main score in the returned dict."""

METRICS = {
    "beta_vae_score": beta_vae_score,
    "factor_vae_score": factor_vae_score,
    "mig": mig,
    "dci": dci,
    "sap": sap,
    "modularity": modularity,
}
"""Metric name -> function ``(ground_truth_data, representation_function, random_state, **settings)``."""

__all__ = [
    "EXTRA_TREES_PARAMS",
    "HEADLINE_KEYS",
    "METRICS",
    "GroundTruthData",
    "RepresentationFunction",
    "beta_vae_score",
    "dci",
    "dci_from_codes",
    "dci_from_importance",
    "explicitness_from_codes",
    "factor_vae_score",
    "mig",
    "mig_from_codes",
    "modularity",
    "modularity_from_codes",
    "modularity_from_mi",
    "sample",
    "sap",
    "sap_from_codes",
]
