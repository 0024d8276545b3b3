"""The echo profile: how much of the scene lies at each delay column's distance, per direction.

An echo's delay is its distance (d = c t / 2), so the share of a depth map's valid pixels whose
depth falls in a delay column's span, within each of `sectors` vertical strips of the image
(left to right), says what that column of the recording hears from that direction. A network
that predicts the profile from its delay tokens (EchoDelayNet's `profile_sectors`) and is
supervised on it (`model.loss.echo_profile_weight`) learns what lies at each token's distance
directly, not only through the depth maps its queries read off the tokens.
"""
import torch


def echo_profile(depth, valid, columns, reach, sectors):
    """[B, sectors, columns]: per sector, the share of its valid pixels of `depth` [B, 1, H, W]
    whose depth falls in each delay column, the columns spanning 0..`reach` (in depth's units).
    A sector without valid pixels is all zero."""
    batch, width = depth.shape[0], depth.shape[-1]
    valid = valid.bool() & torch.isfinite(depth)
    column = (torch.where(valid, depth, 0) / reach * columns).long().clamp(0, columns - 1)
    sector = torch.arange(width, device=depth.device) * sectors // width
    index = sector.expand_as(column) * columns + column
    counts = torch.zeros(batch, sectors * columns, device=depth.device, dtype=depth.dtype)
    counts.scatter_add_(1, index.flatten(1), valid.flatten(1).to(depth.dtype))
    counts = counts.view(batch, sectors, columns)
    return counts / counts.sum(dim=-1, keepdim=True).clamp(min=1)


def echo_profile_loss(logits, depth, valid, reach):
    """Cross-entropy of the predicted profiles (`logits` [B, sectors, columns], a softmax over
    the columns) against the profiles of `depth` (`echo_profile`), averaged over the sectors
    that hold valid pixels (0 when none does)."""
    target = echo_profile(depth, valid, logits.shape[-1], reach, logits.shape[1])
    cross_entropy = -(target * logits.log_softmax(dim=-1)).sum(dim=-1)
    seen = target.sum(dim=-1) > 0
    return cross_entropy[seen].mean() if seen.any() else cross_entropy.sum() * 0
