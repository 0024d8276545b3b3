"""Cross-attention between two feature maps, with 2D sinusoidal positional encodings."""
import math

import torch
import torch.nn as nn

from packnet_sfm.utils.config import ConfigError


def sinusoidal_encoding_2d(channels, height, width, device=None, dtype=None):
    """Positional encoding [H*W, C] of a HxW grid (row-major, as `tokens` flattens it).

    The first C/2 channels encode the row and the last C/2 the column, each as sin/cos pairs
    at C/4 geometric frequencies from 1 to 1/10000 (the Transformer encoding, per axis).
    """
    if channels % 4:
        raise ConfigError(f'2D sinusoidal encoding needs channels divisible by 4, got {channels}')
    quarter = channels // 4
    frequencies = torch.exp(
        torch.arange(quarter, device=device, dtype=torch.float32) * (-math.log(10000.0) / quarter))

    def encode(length):
        angles = torch.arange(length, device=device, dtype=torch.float32)[:, None] * frequencies
        return torch.cat([angles.sin(), angles.cos()], dim=1)          # [length, C/2]

    rows = encode(height)[:, None, :].expand(height, width, 2 * quarter)
    columns = encode(width)[None, :, :].expand(height, width, 2 * quarter)
    return torch.cat([rows, columns], dim=2).reshape(height * width, channels).to(dtype)


def tokens(feature_map):
    """[B, C, H, W] -> [B, H*W, C]."""
    return feature_map.flatten(2).transpose(1, 2)


class CrossAttention(nn.Module):
    """Pre-norm Transformer block in which the positions of `query` attend to `context`.

    out = q + MHA(LN(q) + pos, LN(c) + pos, LN(c)), then out + MLP(LN(out)); the positional
    encodings go into queries and keys only. Input and output are [B, C, H, W] maps.
    """

    def __init__(self, channels, num_heads=8, mlp_ratio=4):
        super().__init__()
        self.norm_query = nn.LayerNorm(channels)
        self.norm_context = nn.LayerNorm(channels)
        self.attention = nn.MultiheadAttention(channels, num_heads, batch_first=True)
        self.norm_mlp = nn.LayerNorm(channels)
        self.mlp = nn.Sequential(
            nn.Linear(channels, mlp_ratio * channels),
            nn.GELU(),
            nn.Linear(mlp_ratio * channels, channels),
        )

    def forward(self, query, context):
        batch, channels, height, width = query.shape
        query_tokens = tokens(query)
        query_normed = self.norm_query(query_tokens)
        context_normed = self.norm_context(tokens(context))
        query_position = sinusoidal_encoding_2d(channels, height, width, query.device, query.dtype)
        context_position = sinusoidal_encoding_2d(
            channels, *context.shape[-2:], context.device, context.dtype)
        attended, _ = self.attention(query_normed + query_position,
                                     context_normed + context_position,
                                     context_normed, need_weights=False)
        out = query_tokens + attended
        out = out + self.mlp(self.norm_mlp(out))
        return out.transpose(1, 2).reshape(batch, channels, height, width)


class BinauralCrossAttention(nn.Module):
    """Left attends to right and right attends to left, both from the unmodified inputs."""

    def __init__(self, channels, num_heads=8, mlp_ratio=4):
        super().__init__()
        self.left_from_right = CrossAttention(channels, num_heads, mlp_ratio)
        self.right_from_left = CrossAttention(channels, num_heads, mlp_ratio)

    def forward(self, left, right):
        return self.left_from_right(left, right), self.right_from_left(right, left)
