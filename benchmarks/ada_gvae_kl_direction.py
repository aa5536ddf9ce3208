"""Does the direction of Ada-GVAE's KL matter?  Shared-latent decisions, one-directional vs symmetrised.

Locatello et al. (2020) and disentanglement_lib use delta_i = KL(q(z_i|x1) || q(z_i|x2)); an
earlier dcign version symmetrised it.  This trains Ada-GVAE (the one-directional rule) on
the engine's pairs and, on every training step's own encoder outputs, counts how often the
two rules disagree on whether a latent of a pair is shared, and how many latents each shares.

Usage: python benchmarks/ada_gvae_kl_direction.py [--steps 150] [--dataset faces]
"""

from __future__ import annotations

import argparse
import json

import torch

from dcign.config import TrainConfig
from dcign.objectives import ada_gvae_shared, gaussian_kl
from dcign.training import DisentanglingVAE, make_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--dataset", default="faces")
    ap.add_argument("--every", type=int, default=25, help="report interval (steps)")
    args = ap.parse_args()
    cfg = TrainConfig.from_dict(dict(method="ada-gvae", dataset=args.dataset, steps=args.steps, num_workers=0))  # lr: the main job's (the default)
    torch.manual_seed(cfg.run.seed)
    module = DisentanglingVAE(cfg)
    opt = module.optimiser()
    stream = iter(make_dataset(cfg))
    print(f"{'steps':>5s} {'disagree %':>10s} {'shared one-dir':>14s} {'shared sym':>10s}")
    window = []
    for step in range(1, args.steps + 1):
        batch = next(stream)
        with torch.no_grad():
            mu, lv = module.net.encode(batch["images"])
            h = mu.shape[0] // 2
            one = ada_gvae_shared(gaussian_kl(mu[:h], lv[:h], mu[h:], lv[h:]))
            sym = ada_gvae_shared(0.5 * (gaussian_kl(mu[:h], lv[:h], mu[h:], lv[h:]) + gaussian_kl(mu[h:], lv[h:], mu[:h], lv[:h])))
        window.append(((one != sym).float().mean().item(), one.sum(1).float().mean().item(), sym.sum(1).float().mean().item()))
        loss = module.losses(batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % args.every == 0 or step == 1:
            d, a, b = (sum(v) / len(v) for v in zip(*window))
            print(f"{step:5d} {100 * d:10.2f} {a:14.1f} {b:10.1f}  (of {cfg.model.latent_dim} latents, mean over {len(window)} steps)", flush=True)
            window = []


if __name__ == "__main__":
    main()
