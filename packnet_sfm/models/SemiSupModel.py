"""Semi-supervised depth model (packnet-sfm semantics):
loss = (1 - w) * self_supervised + w * supervised, w = model.loss.supervised_loss_weight."""
import cv2
import torch
from torch import nn

from packnet_sfm.losses.supervised_loss import SupervisedLoss
from packnet_sfm.networks import build_depth_net
from packnet_sfm.utils.visualization import colorize, colorize_depth, colorize_input, make_grid


class SemiSupModel(nn.Module):
    """A depth network trained on ground truth (w = 1.0, the echo case), optionally mixed with
    photometric self-supervision (w < 1, needs the pose network and context frames)."""

    def __init__(self, depth_net, supervised_method='sparse-l1', supervised_loss_weight=1.0,
                 supervised_num_scales=1, loss_params=None, depth_scale=1.0, max_depth=1.0):
        super().__init__()
        if not 0.0 < supervised_loss_weight <= 1.0:
            raise ValueError("model.loss.supervised_loss_weight must be in (0, 1], "
                             f"got {supervised_loss_weight}")
        if supervised_loss_weight < 1.0:
            raise ValueError("model.loss.supervised_loss_weight < 1 needs photometric "
                             "self-supervision, which this build does not have yet; set 1.0")
        self.depth_net = depth_net
        self.supervised_loss_weight = supervised_loss_weight
        self.supervised_loss = SupervisedLoss(supervised_method, supervised_num_scales,
                                              **(loss_params or {}))
        self.depth_scale = depth_scale
        self.max_depth = max_depth * depth_scale  # metres
        self.epoch = 0

    @classmethod
    def from_config(cfg_cls, cfg, depth_scale, max_depth, **kwargs):
        loss = cfg.model.loss
        method = loss.supervised_method
        suffix = method.split('-', 1)[-1].replace('-', '_')
        return cfg_cls(depth_net=build_depth_net(cfg, max_depth=max_depth),
                       supervised_method=method,
                       supervised_loss_weight=loss.supervised_loss_weight,
                       supervised_num_scales=loss.supervised_num_scales,
                       loss_params=dict(loss.get(suffix, {})),
                       depth_scale=depth_scale, max_depth=max_depth, **kwargs)

    def set_epoch(self, epoch):
        """Called by the trainer before each epoch (0-based)."""
        self.epoch = epoch

    def network_inputs(self, batch):
        """The batch entries the depth network declares in `input_keys`."""
        return {key: batch.get(key) for key in self.depth_net.input_keys}

    def predict(self, batch):
        """The depth network's output with every depth map converted to metres."""
        output = self.depth_net(**self.network_inputs(batch))
        return {**output, 'depth': [d * self.depth_scale for d in output['depth']]}

    def forward(self, batch):
        """{'loss', 'metrics' (loss terms), 'depth' and 'gt' ([B,1,H,W] metres, gt 0 where
        invalid)} plus the network's extra outputs."""
        output = self.predict(batch)
        gt, valid = batch['depth'] * self.depth_scale, batch['valid']
        loss = self.supervised_loss(output['depth'], gt, valid)
        return {**output, 'loss': loss, 'metrics': dict(self.supervised_loss.metrics),
                'depth': output['depth'][0], 'gt': gt * valid}

    def pictures(self, batch, output, num_images=4):
        """{'prediction': grid of input | prediction | GT | |error| rows on a shared scale}."""
        scale, error_scale = self.max_depth, self.max_depth / 4
        rows = []
        for i in range(min(num_images, output['depth'].shape[0])):
            pred, gt, valid = output['depth'][i], output['gt'][i], batch['valid'][i]
            inputs = [panel for key in self.depth_net.input_keys if batch.get(key) is not None
                      for panel in colorize_input(key, batch[key][i])]
            error = colorize((pred - gt).abs(), 0, error_scale, cv2.COLORMAP_INFERNO, ~valid)
            rows.append([*inputs,
                         ('prediction', colorize_depth(pred, scale)),
                         ('ground truth', colorize_depth(gt, scale, valid)),
                         (f'|error| 0-{error_scale:.3g} m', error)])
        return {'prediction': make_grid(rows)}

    @torch.no_grad()
    def infer(self, batch):
        """Depth in metres ([B,1,H,W]) for inference."""
        return self.predict(batch)['depth'][0]
