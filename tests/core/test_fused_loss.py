"""The chunked head loss equals the plain cross-entropy of the full logits, and so do its
gradients, for a bare head and for a whole tied-embedding GPT."""

import pytest
import torch
import torch.nn.functional as F

from pipeline.core.device import set_threads
from pipeline.core.fused_loss import CHUNK_ROWS, EXP_FLOOR, linear_cross_entropy
from pipeline.core.model import GPTConfig
from pipeline.core.objectives import NextTokenObjective
from pipeline.core.scoring import logits_of, model_inputs


def full_cross_entropy(hidden, weight, targets):
    return F.cross_entropy(hidden @ weight.t(), targets)


def loss_and_grads(loss_fn, hidden, weight, targets, upstream: float = 1.0):
    """The loss and its gradients with respect to the hidden states and the head."""
    h, w = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
    loss = loss_fn(h, w, targets)
    (upstream * loss).backward()
    return loss.detach(), h.grad, w.grad


@pytest.mark.parametrize("rows", [1, CHUNK_ROWS, 2 * CHUNK_ROWS + 37])
def test_loss_and_gradients_equal_the_full_logits_cross_entropy(rows):
    generator = torch.Generator().manual_seed(rows)
    hidden = torch.randn(rows, 16, generator=generator, dtype=torch.float64)
    weight = torch.randn(300, 16, generator=generator, dtype=torch.float64)
    targets = torch.randint(0, 300, (rows,), generator=generator)

    # An upstream factor of 3, as a micro-batch's share is.
    fused = loss_and_grads(linear_cross_entropy, hidden, weight, targets, upstream=3.0)
    plain = loss_and_grads(full_cross_entropy, hidden, weight, targets, upstream=3.0)
    for ours, reference in zip(fused, plain, strict=True):
        torch.testing.assert_close(ours, reference, rtol=1e-10, atol=1e-12)


def test_logits_far_below_the_exp_floor_change_neither_loss_nor_gradients():
    # A model that has memorized its data is this confident: most shifted logits sit far
    # under EXP_FLOOR, where exp is raised to exp(EXP_FLOOR) (for speed, see fused_loss).
    generator = torch.Generator().manual_seed(0)
    hidden = 60.0 * torch.randn(64, 8, generator=generator)
    weight = torch.randn(100, 8, generator=generator)
    targets = (hidden @ weight.t()).argmax(1)  # the data it memorized: its own top token
    logits = hidden @ weight.t()
    assert ((logits - logits.amax(1, keepdim=True)) < EXP_FLOOR).float().mean() > 0.5

    fused = loss_and_grads(linear_cross_entropy, hidden, weight, targets)
    plain = loss_and_grads(full_cross_entropy, hidden, weight, targets)
    for ours, reference in zip(fused, plain, strict=True):
        torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-7)


def test_set_threads_flushes_subnormal_floats_to_zero():
    set_threads(torch.get_num_threads())
    assert (torch.tensor([1e-39]) * 1.0).item() == 0.0


@pytest.mark.parametrize("first_token", ["skip", "bos"])
def test_a_tied_gpt_trains_on_the_same_loss_and_gradients(first_token):
    torch.manual_seed(0)
    model = GPTConfig(vocab_size=97, n_positions=16, n_layer=2, d_model=16, n_head=2).build()
    batch = torch.randint(0, 96, (5, 16))
    objective = NextTokenObjective(first_token, bos_id=96 if first_token == "bos" else None)

    fused_loss = objective.loss(model, batch)
    fused_loss.backward()
    fused_grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()

    inputs, targets = model_inputs(batch, first_token, objective.bos_id)
    logits = logits_of(model, inputs)
    plain_loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1))
    plain_loss.backward()

    torch.testing.assert_close(fused_loss, plain_loss, rtol=1e-5, atol=1e-6)
    for name, param in model.named_parameters():
        torch.testing.assert_close(fused_grads[name], param.grad, rtol=1e-4, atol=1e-7,
                                   msg=lambda m, name=name: f"{name}: {m}")


def test_under_bf16_autocast_the_loss_stays_close_to_fp32():
    generator = torch.Generator().manual_seed(1)
    hidden = torch.randn(600, 32, generator=generator)
    weight = 0.1 * torch.randn(512, 32, generator=generator)
    targets = torch.randint(0, 512, (600,), generator=generator)
    exact = F.cross_entropy(hidden @ weight.t(), targets)
    with torch.autocast("cpu", torch.bfloat16):
        low = linear_cross_entropy(hidden, weight.requires_grad_(), targets)
    assert low.dtype == torch.float32
    torch.testing.assert_close(low.detach(), exact, rtol=2e-2, atol=0)
