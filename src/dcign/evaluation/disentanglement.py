"""The six disentanglement_lib metrics on a trained model (Locatello et al., ICML 2019 protocol).

:func:`disentanglement_metrics` scores a network on rendered test identities
(:class:`~dcign.data.ground_truth.EngineGroundTruth`: azimuth, elevation, light azimuth
in ``num_bins`` bins, identity) with β-VAE, FactorVAE, MIG, DCI, SAP and modularity
(:mod:`dcign.metrics`).

Representation: the posterior means μ of the encoder (disentanglement_lib's
``mean`` representation), scored two ways:

* ``full``: all ``latent_dim`` (200) latents, as any VAE would be scored.
* ``grouped``: the code summarised as the paper defines its groups (§3.1): one column per
  extrinsic factor that owns latents (z1 azimuth, z2 elevation, z3 light azimuth; a group
  of several latents is summarised by its first principal component), plus the first
  ``intrinsic_components`` (default 3) principal components of the intrinsic group
  (z4..z200). DC-IGN models (``method == "dcign"`` with a latent layout) use their layout.
  Other models (baseline, β-VAE, Ada-GVAE) have no layout; given ``grouping_layout``
  (``dcign evaluate`` passes the latents the paper's largest-variance rule chose, §4.1.1,
  the ones their Fig. 6 shows) they are summarised the same way, so the grouped numbers
  of all methods compare like with like; without it they get no grouped variant. The PCAs are fit on the codes of ``pca_points`` scenes of *training*
  identities (angles uniform over their ranges), never on the test identities scored.
  Why: the metrics reward one code per factor, but DC-IGN spreads identity over 197
  latents by design; per-latent scores would charge it for that, while the grouped code
  asks whether the paper's groups separate the factors.

Protocol (as disentanglement_lib's ``evaluate``): every metric gets the same integer
seed, so the metrics that sample train / test sets (MIG, DCI, SAP, modularity, and
FactorVAE's variance estimate) see the same points. Encodings are cached by (factors,
random state), so shared points are rendered once and the grouped variant reuses the
full variant's encodings; the β-VAE and FactorVAE scores, which ask for many small
batches, are first dry-run to learn their requests, which are then encoded in large
batches. Pixels are the same as without the cache (each request is still rendered on
its own); only float rounding of batched encoding could differ (none was observed).

Settings (:data:`FAST_SETTINGS` with ``fast=True``, the library defaults, which are
disentanglement_lib's, with ``fast=False``):

============  ========================================  =====================================
metric        fast (2-core CPU, well under 2 min)       fast=False (the field's)
============  ========================================  =====================================
β-VAE         batch 16, 200 train / 100 eval points     batch 64, 10,000 / 5,000
FactorVAE     batch 16, 200 / 100 votes, 2,000 for std  batch 64, 10,000 / 5,000, 10,000
MIG           2,000 points, 20 bins                     10,000 points, 20 bins
DCI           2,000 / 1,000 points, ``extra_trees``     10,000 / 5,000, GBT
SAP           2,000 / 1,000 points                      10,000 / 5,000
modularity    2,000 points, 20 bins, no explicitness    10,000 / 5,000, 20 bins, explicitness
identities    first 20 test identities                  all test identities
grouping PCA  500 training-identity scenes              2,000
angle bins    10 per angle, bin centres rendered        same
============  ========================================  =====================================

Fast numbers are noisier and DCI's ``extra_trees`` differs from the published GBT, so
compare fast numbers only with fast numbers. ``fast=False`` is slow on a CPU: DCI's GBT on
200 latents takes hours (see :mod:`dcign.metrics.dci`), and the β-VAE score alone encodes
1.9 million images. ``num_points`` rescales every count (see
:func:`disentanglement_metrics`); ``metric_settings`` overrides any single keyword.
"""

from __future__ import annotations

import copy
import hashlib
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sklearn.decomposition import PCA

from ..data.ground_truth import EngineGroundTruth
from ..factors import ANGLE_FACTORS
from ..inference import encode
from ..layout import check_layout, intrinsic_latents
from ..metrics import HEADLINE_KEYS, METRICS
from ..metrics.utils import as_random_state, check_count

__all__ = [
    "FAST_SETTINGS",
    "FAST_NUM_IDENTITIES",
    "GroupedCode",
    "MetricsSettings",
    "disentanglement_metrics",
    "metric_settings_for",
]

METRIC_ORDER = ("mig", "dci", "sap", "modularity", "beta_vae_score", "factor_vae_score")
"""Order the metrics run in (and appear in results): sample-based sets first, as they share points."""

FAST_SETTINGS: dict[str, dict[str, Any]] = {
    "beta_vae_score": {"batch_size": 16, "num_train": 200, "num_eval": 100},
    "factor_vae_score": {"batch_size": 16, "num_train": 200, "num_eval": 100, "num_variance_estimate": 2000},
    "mig": {"num_train": 2000, "num_bins": 20},
    "dci": {"num_train": 2000, "num_test": 1000, "model": "extra_trees"},
    "sap": {"num_train": 2000, "num_test": 1000},
    "modularity": {"num_train": 2000, "num_test": 1000, "num_bins": 20, "explicitness": False},
}
"""Reduced settings of ``fast=True`` (the field's defaults are the functions' defaults)."""

FAST_NUM_IDENTITIES = 20
"""Test identities used by ``fast=True`` (``fast=False`` uses the whole test split)."""

FAST_PCA_POINTS, FULL_PCA_POINTS = 500, 2000
ENCODE_BATCH = 256
PREFETCHED = ("beta_vae_score", "factor_vae_score")
"""Metrics that ask for many small batches; their requests are dry-run first and encoded in bulk."""
CACHE_BUDGET_BYTES = 256 * 2**20
"""Most bytes of full-width codes the encoding cache keeps (grouped codes are always kept)."""


def metric_settings_for(fast: bool, num_points: int | None = None) -> dict[str, dict[str, Any]]:
    """Keyword settings of each metric for ``fast`` and an optional point count.

    ``num_points = N`` sets MIG / DCI / SAP / modularity to ``N`` train and ``N // 2``
    test points, FactorVAE's variance estimate to ``N`` points, and the β-VAE and
    FactorVAE scores to ``max(10, N // 10)`` train and ``max(5, N // 20)`` eval points
    (each of those costs a whole batch of encodings).

    Raises:
        ValueError: ``num_points`` < 2.
    """
    settings = copy.deepcopy(FAST_SETTINGS) if fast else {name: {} for name in METRICS}
    if num_points is not None:
        n = check_count("num_points", num_points, 2)
        for name in ("mig", "dci", "sap", "modularity"):
            settings[name]["num_train"] = n
            if name != "mig":
                settings[name]["num_test"] = max(1, n // 2)
        for name in ("beta_vae_score", "factor_vae_score"):
            settings[name].update(num_train=max(10, n // 10), num_eval=max(5, n // 20))
        settings["factor_vae_score"]["num_variance_estimate"] = n
    return settings


class GroupedCode:
    """Summary of a DC-IGN code by its latent groups (paper §3.1), fit on training identities.

    Columns: one per extrinsic factor in ``latent_layout`` (the latent itself, or the first
    principal component when the factor owns several), then the first
    ``intrinsic_components`` principal components of the intrinsic latents.

    Args:
        latent_layout: factor -> latent indices (``TrainConfig.latent_layout``).
        latent_dim: D, the code size.
        intrinsic_components: principal components kept of the intrinsic group (>= 1).
        factors: the extrinsic factors, in column order (the paper's three angles by
            default; a user's data set passes its own factors).

    Raises:
        ValueError: ``intrinsic_components`` < 1 or a layout leaving no intrinsic latents.
    """

    def __init__(self, latent_layout: dict[str, list[int]], latent_dim: int, intrinsic_components: int = 3,
                 factors: tuple[str, ...] = ANGLE_FACTORS) -> None:
        self.intrinsic_components = check_count("intrinsic_components", intrinsic_components, 1)
        self.extrinsic = [(f, [int(i) for i in latent_layout[f]]) for f in factors if f in latent_layout]
        self.intrinsic = intrinsic_latents(dict(self.extrinsic), latent_dim)
        if not self.intrinsic:
            raise ValueError("the latent layout leaves no intrinsic latents to summarise")
        self._pcas: dict[str, PCA] = {}

    def fit(self, codes: np.ndarray) -> "GroupedCode":
        """Fit the PCAs on ``(N, D)`` codes of training identities (N >= 2)."""
        codes = np.asarray(codes, dtype=np.float64)
        for f, idx in self.extrinsic:
            if len(idx) > 1:
                self._pcas[f] = PCA(n_components=1, svd_solver="full").fit(codes[:, idx])
        k = min(self.intrinsic_components, len(self.intrinsic), len(codes))
        self._pcas["intrinsic"] = PCA(n_components=k, svd_solver="full").fit(codes[:, self.intrinsic])
        return self

    def transform(self, codes: np.ndarray) -> np.ndarray:
        """``(N, D)`` codes -> ``(N, num_extrinsic + num_pcs)`` float64 grouped codes."""
        if "intrinsic" not in self._pcas:
            raise RuntimeError("GroupedCode.fit must be called before transform")
        codes = np.asarray(codes, dtype=np.float64)
        cols = []
        for f, idx in self.extrinsic:
            cols.append(self._pcas[f].transform(codes[:, idx]) if f in self._pcas else codes[:, idx[:1]])
        cols.append(self._pcas["intrinsic"].transform(codes[:, self.intrinsic]))
        return np.concatenate(cols, axis=1)

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable description: column names and explained-variance ratios."""
        columns = []
        for f, idx in self.extrinsic:
            names = ",".join(f"z{i + 1}" for i in idx)
            columns.append(f"{f}: {names}" if f not in self._pcas else f"{f}: PC1 of {names}")
        pca = self._pcas.get("intrinsic")
        n = pca.n_components_ if pca is not None else self.intrinsic_components
        first, last = self.intrinsic[0] + 1, self.intrinsic[-1] + 1
        span = (f"z{first}..z{last}" if last - first + 1 == len(self.intrinsic)
                else f"the {len(self.intrinsic)} intrinsic latents of z{first}..z{last}")
        columns += [f"intrinsic: PC{j + 1} of {span}" for j in range(n)]
        return {
            "columns": columns,
            "intrinsic_latents": len(self.intrinsic),
            "intrinsic_components": int(n),
            "intrinsic_explained_variance_ratio": (
                [float(v) for v in pca.explained_variance_ratio_] if pca is not None else None
            ),
            "pca": "sklearn.decomposition.PCA (svd_solver='full', no scaling) on posterior means",
        }


class _EncodedData:
    """GroundTruthData whose observations are codes: renders, encodes (μ), summarises.

    ``variant`` selects what is returned ("full" codes or "grouped" codes); the
    representation function passed to the metrics is then the identity. Encodings are
    cached under (factors, random-state state), with the state after rendering, so a
    metric re-drawing the same points under the same seed costs no rendering.

    :meth:`prefetch` makes the β-VAE / FactorVAE scores fast: their factor draws do not
    depend on the codes, so a dry run with stand-in codes records every request, which is
    then rendered and encoded in large batches; the real run finds them all in the cache
    (a request the dry run did not foresee is simply rendered when it comes).
    """

    def __init__(self, data: EngineGroundTruth, encoder: Callable, grouping: GroupedCode | None, latent_dim: int,
                 device: Any = "cpu") -> None:
        self.data, self.encoder, self.grouping, self.latent_dim = data, encoder, grouping, latent_dim
        self.device = device
        self.variant = "full"
        self._full: dict[bytes, np.ndarray] = {}
        self._grouped: dict[bytes, np.ndarray] = {}
        self._after: dict[bytes, Any] = {}
        self._full_bytes = 0
        self._recording: list[tuple[bytes, Any, Any]] | None = None
        self._fake = np.random.RandomState(0)
        self.images_encoded = 0
        self.cache_hits = 0

    num_factors = property(lambda self: self.data.num_factors)
    factors_num_values = property(lambda self: self.data.factors_num_values)

    def sample_factors(self, num, random_state):
        return self.data.sample_factors(num, random_state)

    def sample_observations_from_factors(self, factors, random_state):
        factors = np.ascontiguousarray(factors, dtype=np.int64)
        key = _key(factors, random_state)
        if self._recording is not None:  # dry run: advance the state as rendering would
            before = random_state.get_state()
            scenes = self.data.scene_factors(factors, random_state)
            after = random_state.get_state()
            self._recording.append((key, scenes, None if _same_state(before, after) else after))
            return self._fake.normal(size=(len(factors), self.latent_dim))
        store = self._full if self.variant == "full" else self._grouped
        if key in store:
            self.cache_hits += 1
            if self._after.get(key) is not None:
                random_state.set_state(self._after[key])
            return store[key]
        before = random_state.get_state()
        images = self.data.sample_observations_from_factors(factors, random_state)
        after = random_state.get_state()
        mu = encode(self.encoder, images, batch_size=ENCODE_BATCH, device=self.device)
        self._store(key, mu, None if _same_state(before, after) else after)
        return mu if self.variant == "full" else self._grouped[key]

    def _store(self, key: bytes, mu: np.ndarray, after) -> None:
        self.images_encoded += len(mu)
        self._after[key] = after
        if self.grouping is not None:
            self._grouped[key] = self.grouping.transform(mu)
        if self._full_bytes + mu.nbytes <= CACHE_BUDGET_BYTES:
            self._full[key] = mu
            self._full_bytes += mu.nbytes

    def prefetch(self, dry_run: Callable[[], Any]) -> None:
        """Run ``dry_run`` with stand-in codes, then render + encode what it asked for in bulk.

        Skipped (nothing cached) if the dry run raises or its codes would not fit the cache.
        """
        self._recording = []
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dry_run()
        except Exception:  # the real run raises the genuine error
            return
        finally:
            recorded, self._recording = self._recording, None
        todo = {key: (scenes, after) for key, scenes, after in recorded if key not in self._full}
        total = sum(len(s) for s, _ in todo.values())
        if total == 0 or self._full_bytes + total * self.latent_dim * 4 > CACHE_BUDGET_BYTES:
            return
        # Render each request on its own (the renderer's pixels depend slightly on where an
        # image sits in its batch, so this keeps them identical to on-demand rendering) and
        # encode in large batches (the costly part for small requests).
        pending: list[tuple[bytes, np.ndarray]] = []
        for key, (scenes, after) in todo.items():
            pending.append((key, self.data.engine.render(scenes)))
            if sum(len(im) for _, im in pending) >= ENCODE_BATCH:
                self._encode_pending(pending, todo)
                pending = []
        if pending:
            self._encode_pending(pending, todo)

    def _encode_pending(self, pending: list[tuple[bytes, np.ndarray]], todo: dict) -> None:
        mu = encode(self.encoder, np.concatenate([im for _, im in pending]), batch_size=ENCODE_BATCH,
                    device=self.device)
        start = 0
        for key, im in pending:
            self._store(key, mu[start : start + len(im)].copy(), todo[key][1])
            start += len(im)


def _key(factors: np.ndarray, random_state: np.random.RandomState) -> bytes:
    _, keys, pos, has_gauss, gauss = random_state.get_state()
    h = hashlib.blake2b(digest_size=20)
    h.update(np.asarray(factors.shape, dtype=np.int64).tobytes())
    h.update(factors.tobytes())
    h.update(keys.tobytes())
    h.update(np.asarray([pos, has_gauss], dtype=np.int64).tobytes())
    h.update(np.float64(gauss).tobytes())
    return h.digest()


def _same_state(a, b) -> bool:
    return a[2] == b[2] and a[3] == b[3] and a[4] == b[4] and np.array_equal(a[1], b[1])


def _grouping_layout(cfg, given: Any) -> tuple[dict[str, list[int]] | None, str | None]:
    """The layout the grouped code uses, and where it came from (see ``grouping_layout``).

    Raises:
        ValueError: ``given`` is not a layout of ``cfg``'s code (:func:`dcign.layout.check_layout`).
    """
    if cfg.method.name == "dcign" and cfg.method.latent_layout:
        return cfg.method.latent_layout, "the DC-IGN latent layout (paper §3.1)"
    if given is None or (isinstance(given, dict) and not given):
        return None, None
    # A latent may stand for two factors (the variance rule can pick one latent twice):
    # it then fills both columns, and the metrics see that it does not separate them.
    layout = check_layout(given, cfg.model.latent_dim, name="grouping_layout", shared=True)
    return layout, "grouping_layout (for non-DC-IGN models: the largest-variance latents, paper §4.1.1)"


def _identity(codes: np.ndarray) -> np.ndarray:
    return codes


@dataclass(frozen=True)
class MetricsSettings:
    """How :func:`disentanglement_metrics` scores a model (the module docstring's table).

    Attributes:
        fast: reduced settings (:data:`FAST_SETTINGS`, 20 test identities) or the field's.
        num_points: rescale every point count (see :func:`metric_settings_for`).
        num_bins: bins per angle factor (see :class:`EngineGroundTruth`).
        num_identities: test identities to use (default: 20 if ``fast`` else all).
        within_bin: ``"centre"`` or ``"uniform"`` (see :class:`EngineGroundTruth`).
        intrinsic_components: principal components of the intrinsic group in ``grouped``.
        pca_points: training-identity scenes the grouping PCA is fit on (default 500 if
            ``fast`` else 2,000).
        metric_settings: ``{metric: {keyword: value}}`` overriding single settings.
    """

    fast: bool = True
    num_points: int | None = None
    num_bins: int = 10
    num_identities: int | None = None
    within_bin: str = "centre"
    intrinsic_components: int = 3
    pca_points: int | None = None
    metric_settings: dict[str, dict[str, Any]] | None = None

    def per_metric(self) -> dict[str, dict[str, Any]]:
        """Keyword settings of each metric (raises ValueError on unknown metric names)."""
        settings = metric_settings_for(self.fast, self.num_points)
        unknown = sorted(set(self.metric_settings or {}) - set(METRICS))
        if unknown:
            raise ValueError(f"unknown metric(s) in metric_settings: {unknown}; known: {', '.join(METRICS)}")
        for name, extra in (self.metric_settings or {}).items():
            settings[name].update(extra)
        return settings

    def ground_truth(self, engine) -> EngineGroundTruth:
        """The scored data: binned test identities of ``engine``."""
        n = self.num_identities
        if n is None and self.fast:
            n = min(FAST_NUM_IDENTITIES, len(engine.space.identities("test")))
        return EngineGroundTruth(engine, "test", self.num_bins, n, self.within_bin)

    def pca_count(self) -> int:
        """Training-identity scenes the grouping PCA is fit on."""
        if self.pca_points is not None:
            return check_count("pca_points", self.pca_points, 2)
        return FAST_PCA_POINTS if self.fast else FULL_PCA_POINTS


def _fit_grouping(net, cfg, engine, layout, settings: MetricsSettings, seed: int, device, say) -> GroupedCode:
    """The grouped code of ``layout``, its PCAs fit on training-identity scenes."""
    n_pca = settings.pca_count()
    say(f"fitting the grouping PCA on {n_pca} training-identity scenes")
    scenes = engine.space.sample(np.random.default_rng([seed, 0x9CA]), n_pca, "train")
    grouping = GroupedCode(layout, cfg.model.latent_dim, settings.intrinsic_components)
    return grouping.fit(encode(net.encode, engine.render(scenes), batch_size=ENCODE_BATCH, device=device))


def _score(encoded: _EncodedData, variants: list[str], per_metric: dict, seed: int, say, timing: dict) -> dict:
    """``{variant: {metric: result}}`` of every metric on every code variant, in :data:`METRIC_ORDER`."""
    results: dict[str, dict[str, Any]] = {v: {} for v in variants}
    for variant in variants:
        encoded.variant = variant
        for name in METRIC_ORDER:
            say(f"{name} ({variant} code)")
            t = time.perf_counter()
            if variant == "full" and name in PREFETCHED:
                encoded.prefetch(lambda: METRICS[name](encoded, _identity, seed, **per_metric[name]))
            result = METRICS[name](encoded, _identity, seed, **per_metric[name])
            timing[f"{name}/{variant}"] = time.perf_counter() - t
            result["settings"]["representation"] = (
                "posterior mean of all latents" if variant == "full" else "grouped posterior mean (see settings.grouping)"
            )
            results[variant][name] = result
    return results


def disentanglement_metrics(net, cfg, engine, random_state: np.random.RandomState | int = 0,
                            settings: MetricsSettings | None = None, *, progress: Callable[[str], Any] | None = None,
                            grouping_layout: dict[str, list[int]] | None = None, **overrides) -> dict[str, Any]:
    """β-VAE, FactorVAE, MIG, DCI, SAP and modularity of a trained model, on test identities.

    Args:
        net: a :class:`~dcign.model.DCIGN` (``net.encode(x) -> (mu, logvar)``); put in eval
            mode for the call and restored afterwards.
        cfg: its :class:`~dcign.config.TrainConfig` (method, latent layout, latent_dim).
        engine: a :class:`~dcign.data.engine.SceneEngine` of the model's data set and image
            size (e.g. ``dcign.inference.engine_for(cfg)``).
        random_state: int seed, or a ``numpy.random.RandomState`` from which one int seed
            is drawn; every metric gets that seed (disentanglement_lib's protocol).
        settings: a :class:`MetricsSettings` (default: ``MetricsSettings()``, the fast ones).
        progress: optional callable receiving one-line progress messages.
        grouping_layout: factor -> latent indices defining the grouped code of a model
            that is not a DC-IGN (ignored for DC-IGN, whose own layout is used), e.g.
            ``{"azimuth": [14], "elevation": [135], "light_azimuth": [35]}`` from the
            largest-variance rule (:func:`dcign.inference.factor_latents`).
        **overrides: fields of :class:`MetricsSettings` replacing those of ``settings``
            (e.g. ``fast=False`` or ``num_points=40``).

    Returns:
        A JSON-serialisable dict::

            {"beta_vae_score": {...}, "factor_vae_score": {...}, "mig": {...}, "dci": {...},
             "sap": {...}, "modularity": {...},   # full code: each metric's own dict
             "grouped": {same six keys} or None,   # None without a layout (see grouping_layout)
             "headline": {"mig": 0.12, ..., "mig_grouped": 0.31, ...},
             "settings": {...}, "timing_s": {...}}

        Each metric dict holds the scores under disentanglement_lib's key names and its
        ``settings``; ``headline`` is the main score of each (:data:`dcign.metrics.HEADLINE_KEYS`);
        ``timing_s`` (wall seconds) is the only key that differs between identical calls.

    Raises:
        ValueError: engine of another data set or image size than the model, unknown
            metric names in ``metric_settings``, bad counts (see :class:`EngineGroundTruth`),
            a malformed ``grouping_layout`` (unknown factor, indices outside
            0..latent_dim-1 or not ints, no latent left over for the intrinsic group).
        TypeError: ``random_state`` neither an int nor a ``RandomState``; an override that is
            not a field of :class:`MetricsSettings`.
    """
    say = progress or (lambda msg: None)
    t_start = time.perf_counter()
    settings = replace(settings or MetricsSettings(), **overrides)
    if engine.config.dataset != cfg.data.dataset or engine.size != cfg.image_size:
        raise ValueError(
            f"the engine renders {engine.config.dataset} at {engine.size} px but the model was trained on "
            f"{cfg.data.dataset} at {cfg.image_size} px; build the engine with dcign.inference.engine_for(cfg)"
        )
    rs, seed = as_random_state(random_state)
    if seed is None:
        seed = int(rs.randint(2**31 - 1))
    per_metric = settings.per_metric()
    data = settings.ground_truth(engine)

    was_training = net.training
    device = next(net.parameters()).device
    net.eval()
    timing: dict[str, float] = {}
    try:
        grouping = None
        layout, layout_source = _grouping_layout(cfg, grouping_layout)
        if layout:
            t = time.perf_counter()
            grouping = _fit_grouping(net, cfg, engine, layout, settings, seed, device, say)
            timing["grouping_pca"] = time.perf_counter() - t
        encoded = _EncodedData(data, net.encode, grouping, cfg.model.latent_dim, device)
        results = _score(encoded, ["full"] + (["grouped"] if grouping is not None else []), per_metric, seed, say, timing)
    finally:
        net.train(was_training)

    headline = {name: float(results["full"][name][HEADLINE_KEYS[name]]) for name in METRIC_ORDER}
    if grouping is not None:
        headline.update({f"{name}_grouped": float(results["grouped"][name][HEADLINE_KEYS[name]]) for name in METRIC_ORDER})
    timing["total"] = time.perf_counter() - t_start
    out: dict[str, Any] = dict(results["full"])
    out["grouped"] = results.get("grouped")
    out["headline"] = headline
    out["settings"] = {
        "protocol": "Locatello et al. 2019 (ICML), disentanglement_lib: same integer seed for every metric",
        "fast": bool(settings.fast),
        "seed": seed,
        "num_points": settings.num_points,
        "metric_settings": per_metric,
        "headline_keys": dict(HEADLINE_KEYS),
        "ground_truth": data.describe(),
        "representation": "posterior mean mu of the encoder",
        "latent_dim": int(cfg.model.latent_dim),
        "grouping": grouping.describe() | {"pca_points": settings.pca_count(), "pca_identities": "train split",
                                           "layout_source": layout_source} if grouping else None,
        "grouping_note": None if grouping else (
            f"no grouped variant: method {cfg.method.name!r} has no DC-IGN latent layout and no grouping_layout was given"),
        "images_encoded": int(encoded.images_encoded),
        "cache_hits": int(encoded.cache_hits),
    }
    out["timing_s"] = {k: round(v, 3) for k, v in timing.items()}
    return out
