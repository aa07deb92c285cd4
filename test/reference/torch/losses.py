"""DPO losses after TRL's DPOTrainer (trl/trainer/dpo_trainer.py, `dpo_loss`), one function per Prefer loss name.

Each takes the pairs' log-probs (PairLogps) and the loss settings (`beta`, `label_smoothing`, and whatever else a
loss reads) and returns per-pair losses [pairs]. As in TRL, the log-probs are divided by the completion lengths
for every loss of a combination when one of its losses is in AVERAGE_LOGPS.
"""
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class PairLogps:
    """Per pair [pairs]: completion log-probs of the policy (adapter on) and the reference (adapter off)."""

    policy_chosen: torch.Tensor
    policy_rejected: torch.Tensor
    reference_chosen: torch.Tensor
    reference_rejected: torch.Tensor
    chosen_lengths: torch.Tensor
    rejected_lengths: torch.Tensor
    #: whether the log-probs above are divided by the completion lengths
    averaged: bool = False

    def length_averaged(self):
        """The same log-probs divided by the completion lengths."""
        if self.averaged:
            return self
        return PairLogps(
            self.policy_chosen / self.chosen_lengths,
            self.policy_rejected / self.rejected_lengths,
            self.reference_chosen / self.chosen_lengths,
            self.reference_rejected / self.rejected_lengths,
            self.chosen_lengths,
            self.rejected_lengths,
            averaged=True,
        )

    def chosen_ratio(self):
        """c = π_chosen − ref_chosen"""
        return self.policy_chosen - self.reference_chosen

    def rejected_ratio(self):
        """r = π_rejected − ref_rejected"""
        return self.policy_rejected - self.reference_rejected

    def log_ratio_gap(self):
        """Δ = c − r: TRL's `logits`."""
        return self.chosen_ratio() - self.rejected_ratio()


def sigmoid(logps, config):
    beta, eps = config['beta'], config['label_smoothing']
    logits = logps.log_ratio_gap()
    return -F.logsigmoid(beta * logits) * (1 - eps) - F.logsigmoid(-beta * logits) * eps


def robust(logps, config):
    beta, eps = config['beta'], config['label_smoothing']
    logits = logps.log_ratio_gap()
    return (-F.logsigmoid(beta * logits) * (1 - eps) + F.logsigmoid(-beta * logits) * eps) / (1 - 2 * eps)


def ipo(logps, config):
    # TRL: "eqn (17) of the paper where beta is the regularization parameter for the IPO loss, denoted by tau"
    return (logps.log_ratio_gap() - 1 / (2 * config['beta'])) ** 2


def hinge(logps, config):
    return torch.relu(1 - config['beta'] * logps.log_ratio_gap())


def sigmoid_norm(logps, config):
    # the sigmoid loss; dpo_loss hands it length-averaged log-probs (AVERAGE_LOGPS)
    return sigmoid(logps, config)


def apo_zero(logps, config):
    # TRL: "Eqn (7) of the APO paper"
    beta = config['beta']
    return (1 - torch.sigmoid(beta * logps.chosen_ratio())) + torch.sigmoid(beta * logps.rejected_ratio())


def apo_down(logps, config):
    # TRL: "Eqn (8) of the APO paper"
    beta = config['beta']
    return torch.sigmoid(beta * logps.chosen_ratio()) + (1 - torch.sigmoid(beta * logps.log_ratio_gap()))


def exo_pair(logps, config):
    # TRL: "eqn (16) of the EXO paper"; a label smoothing of 0 is taken as 1e-3
    beta, eps = config['beta'], config['label_smoothing'] or 1e-3
    logits = beta * logps.log_ratio_gap()
    return logits.sigmoid() * (F.logsigmoid(logits) - math.log(1 - eps)) + (-logits).sigmoid() * (F.logsigmoid(-logits) - math.log(eps))


def nca_pair(logps, config):
    beta = config['beta']
    chosen_rewards, rejected_rewards = beta * logps.chosen_ratio(), beta * logps.rejected_ratio()
    return -F.logsigmoid(chosen_rewards) - 0.5 * F.logsigmoid(-chosen_rewards) - 0.5 * F.logsigmoid(-rejected_rewards)


def bco_pair(logps, config):
    # TRL's δ is its running mean of the batches' mean rewards; Prefer feeds it as `running_reward_mean`
    beta, delta = config['beta'], config['running_reward_mean']
    return -F.logsigmoid(beta * logps.chosen_ratio() - delta) - F.logsigmoid(-(beta * logps.rejected_ratio() - delta))


def sppo_hard(logps, config):
    beta = config['beta']
    return (logps.chosen_ratio() - 0.5 / beta) ** 2 + (logps.rejected_ratio() + 0.5 / beta) ** 2


def discopop(logps, config):
    # TRL: "Eqn (5) of the DiscoPOP paper"
    logits = config['beta'] * logps.log_ratio_gap()
    modulation = torch.sigmoid(logits / config.get('discopop_tau', 0.05))
    return -F.logsigmoid(logits) * (1 - modulation) + torch.exp(-logits) * modulation


def sft(logps, config):
    # TRL's nll_loss: cross-entropy over every chosen completion token of the batch, the same for each pair
    sums = logps.policy_chosen * logps.chosen_lengths if logps.averaged else logps.policy_chosen
    return (-sums.sum() / logps.chosen_lengths.sum()).expand(sums.shape[0])


LOSSES = {
    'sigmoid': sigmoid,
    'robust': robust,
    'ipo': ipo,
    'hinge': hinge,
    'sigmoid_norm': sigmoid_norm,
    'apo_zero': apo_zero,
    'apo_down': apo_down,
    'exo_pair': exo_pair,
    'nca_pair': nca_pair,
    'bco_pair': bco_pair,
    'sppo_hard': sppo_hard,
    'discopop': discopop,
    'sft': sft,
}

#: the losses for which TRL compares length-averaged log-probs
AVERAGE_LOGPS = {'ipo', 'sigmoid_norm'}


def dpo_loss(types, weights, logps, config):
    """The scalar to differentiate: Σ wᵢ·lossᵢ averaged over pairs (TRL's `loss_type` list and `loss_weights`)."""
    if any(t in AVERAGE_LOGPS for t in types):
        logps = logps.length_averaged()
    return sum(w * LOSSES[t](logps, config) for t, w in zip(types, weights)).mean()


def kl_estimate(policy_mismatched, reference_mismatched):
    """KTO's reference point z0 (TRL's KTOTrainer): the batch mean of the log-ratios of mismatched completions (each
    prompt with another example's completion), clamped at 0 and carrying no gradient."""
    return (policy_mismatched - reference_mismatched).mean().detach().clamp(min=0)


def kto(policy, reference, desirable, z0, config):
    """TRL's `kto` loss_type (Eqn (7) of the KTO paper): desirable completions 1 − σ(β(log-ratio − z0)), undesirable
    ones 1 − σ(β(z0 − log-ratio)), each side weighted, averaged over all the batch's completions."""
    beta = config['beta']
    logratios = policy - reference
    chosen = 1 - torch.sigmoid(beta * (logratios[desirable] - z0))
    rejected = 1 - torch.sigmoid(beta * (z0 - logratios[~desirable]))
    weighted = torch.cat((config.get('desirable_weight', 1.0) * chosen, config.get('undesirable_weight', 1.0) * rejected))
    return weighted.mean()


#: losses over unpaired completions, each labelled desirable or not
UNPAIRED_LOSSES = {'kto': kto}
