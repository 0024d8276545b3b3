"""Semi-supervised depth model (packnet-sfm semantics):
loss = (1 - w) * self_supervised + w * supervised, w = model.loss.supervised_loss_weight
(w = 0 is packnet-sfm's SelfSupModel: the photometric loss alone).

Units: the supervised loss compares depth in the network's own units, those of the batch's
depth (normalised by max_depth with `datasets.batvision.depth_norm`, metres otherwise), as the
official BatVision code's L1 did and as the seed 002 loss weights were tuned; predictions,
metrics, pictures and the photometric loss are in metres.
"""
import cv2
import torch
from torch import nn

from packnet_sfm.losses.echo_profile_loss import echo_profile_loss
from packnet_sfm.losses.supervised_loss import SupervisedLoss
from packnet_sfm.models.self_supervision import Completion, SelfSupervision
from packnet_sfm.networks import build_depth_net
from packnet_sfm.networks.layers.audio_frontend import AudioFrontEnd
from packnet_sfm.utils.config import ConfigError, check_interval
from packnet_sfm.utils.visualization import colorize, colorize_depth, colorize_input, make_grid


class SemiSupModel(nn.Module):
    """A depth network trained on ground truth (w = 1.0, the echo case), optionally mixed with
    photometric self-supervision (w < 1, needs the pose network and context frames); with
    w = 0 training reads no ground truth at all."""

    def __init__(self, depth_net, supervised_loss=None, supervised_loss_weight=1.0,
                 depth_scale=1.0, max_depth=1.0, self_supervision=None, completion=None,
                 audio_frontend=None, echo_profile_weight=0.0):
        """`supervised_loss`: a module called (depths, gt, valid, **extra) with metrics;
        SupervisedLoss('sparse-l1') when None. `audio_frontend`: an AudioFrontEnd turning the
        batch's cut waveforms into the network's audio input on the model's device.
        `echo_profile_weight`: of the cross-entropy of the network's 'echo_profile' output
        (losses/echo_profile_loss.py) in the supervised loss."""
        super().__init__()
        check_interval('model.loss.supervised_loss_weight', supervised_loss_weight, 0, 1)
        check_interval('model.loss.echo_profile_weight', echo_profile_weight, 0, float('inf'))
        if echo_profile_weight > 0 and not getattr(depth_net, 'predicts_echo_profile', False):
            raise ConfigError(f'model.loss.echo_profile_weight is {echo_profile_weight} but '
                              f'{type(depth_net).__name__} predicts no echo profile; use '
                              'EchoDelayNet with profile_sectors >= 1, or set the weight to 0')
        if supervised_loss_weight < 1.0 and self_supervision is None:
            raise ConfigError("model.loss.supervised_loss_weight < 1 needs photometric "
                              "self-supervision (a SelfSupervision with a pose network)")
        self.depth_net = depth_net
        self.supervised_loss_weight = supervised_loss_weight
        self.supervised_loss = supervised_loss or SupervisedLoss('sparse-l1')
        self.depth_scale = depth_scale
        self.max_depth = max_depth * depth_scale  # metres
        self.epoch = 0
        # RGB path (see models/self_supervision.py): pose net + photometric loss when w < 1,
        # raw-depth mask and SAN terms for networks fed input_depth.
        self.self_supervision = self_supervision
        self.completion = completion or Completion('sparse-l1')
        self.audio_frontend = audio_frontend
        self.echo_profile_weight = echo_profile_weight

    @classmethod
    def from_config(cfg_cls, cfg, depth_scale, max_depth, **kwargs):
        loss = cfg.model.loss
        kwargs.setdefault('supervised_loss', SupervisedLoss.from_config(loss))
        return cfg_cls(depth_net=build_depth_net(cfg, max_depth=max_depth,
                                                 depth_scale=depth_scale),
                       supervised_loss_weight=loss.supervised_loss_weight,
                       depth_scale=depth_scale, max_depth=max_depth,
                       self_supervision=(SelfSupervision.from_config(cfg)
                                         if loss.supervised_loss_weight < 1.0 else None),
                       completion=Completion.from_config(cfg),
                       audio_frontend=AudioFrontEnd.from_config(cfg),
                       echo_profile_weight=loss.echo_profile_weight, **kwargs)

    def set_epoch(self, epoch):
        """Called by the trainer before each epoch (0-based)."""
        self.epoch = epoch

    def training_batch(self, batch):
        """The batch a training step learns from: with the front end's whole-sample echo
        augmentation (`datasets.augmentation.echo_mirror_prob`, `.echo_mix_prob`,
        `.echo_room_scale`) applied, before the model and any teacher see it (the batch itself
        in eval mode)."""
        if self.audio_frontend is None:
            return batch
        return self.audio_frontend.augmentation.other_worlds(batch)

    def network_inputs(self, batch):
        """The batch entries the depth network declares in `input_keys` (the audio through
        the front end, when the model has one)."""
        inputs = {key: batch.get(key) for key in self.depth_net.input_keys}
        if self.audio_frontend is not None and inputs.get('audio') is not None:
            inputs['audio'] = self.audio_frontend(inputs['audio'], batch.get('room_scale'))
        return inputs

    def predict(self, batch, return_features=False, **net_kwargs):
        """The depth network's output with every depth map converted to metres (and its
        'features' when asked); `net_kwargs` go to the network's forward."""
        if return_features:
            net_kwargs['return_features'] = True
        output = self.depth_net(**self.network_inputs(batch), **net_kwargs)
        return {**output, 'depth': [d * self.depth_scale for d in output['depth']]}

    def forward(self, batch):
        """{'loss', 'metrics' (loss terms), 'depth' and 'gt' ([B,1,H,W] metres, gt 0 where
        invalid)} plus the network's extra outputs."""
        output = self.predict(batch)
        valid = batch['valid']
        self_supervised = self.self_supervision is not None and self.training
        if self_supervised and self.supervised_loss_weight == 0.0:
            loss, metrics = self.photometric_loss(batch, output)
        else:
            loss, metrics = self.supervised_terms(batch, output, valid)
            if self_supervised:
                loss, metrics = self.mixed_loss(batch, output, loss, metrics)
        return {**output, 'loss': loss, 'metrics': metrics,
                'depth': output['depth'][0], 'gt': self.ground_truth(batch)}

    def ground_truth(self, batch):
        """The batch's ground truth in metres, 0 where invalid."""
        return batch['depth'] * self.depth_scale * batch['valid']

    def evaluation_output(self, batch):
        """What evaluation scores and draws, without the training loss: 'depth' and 'gt'
        ([B,1,H,W] metres) and the network's other outputs."""
        output = self.predict(batch)
        return {**output, 'depth': output['depth'][0], 'gt': self.ground_truth(batch)}

    def network_units(self, depths):
        """Depth maps in metres back in the network's (and the batch's) units."""
        return [d / self.depth_scale for d in depths]

    def supervised_terms(self, batch, output, valid):
        """(supervised loss, its terms), the SAN terms included, in the network's units."""
        loss = self.supervised_loss(self.network_units(output['depth']), batch['depth'], valid,
                                    **self.completion.loss_inputs(batch))
        metrics = dict(self.supervised_loss.metrics)
        extra, extra_metrics = self.completion.extra_terms(output, self.supervised_loss,
                                                           batch['depth'], valid)
        if self.echo_profile_weight > 0:
            profile = echo_profile_loss(output['echo_profile'], batch['depth'], valid,
                                        self.max_depth / self.depth_scale)
            extra = extra + self.echo_profile_weight * profile
            extra_metrics['echo_profile_loss'] = profile.detach()
        return loss + extra, {**metrics, **extra_metrics}

    def photometric_loss(self, batch, output):
        """(photometric loss, its terms)."""
        loss = self.self_supervision(batch, output['depth'])
        return loss, {**self.self_supervision.metrics, 'self_supervised_loss': loss.detach()}

    def mixed_loss(self, batch, output, supervised, metrics):
        """((1 - w) * photometric + w * supervised, every term)."""
        photometric, photometric_metrics = self.photometric_loss(batch, output)
        w = self.supervised_loss_weight
        return (1 - w) * photometric + w * supervised, {
            **metrics, **photometric_metrics, 'supervised_loss': supervised.detach()}

    def picture_depth_range(self, batch, output, num_images):
        """Metres at the far end of the pictures' shared colour scale: the 99th percentile of
        the ground truth shown (max_depth hides indoor rooms in its near tenth)."""
        shown = output['gt'][:num_images][batch['valid'][:num_images]]
        if shown.numel() == 0:
            return self.max_depth
        return max(float(torch.quantile(shown.float().cpu(), 0.99)), 1e-3)

    def pictures(self, batch, output, num_images=4):
        """{'prediction': grid of input | prediction | GT | |error| rows on a shared scale}."""
        scale = self.picture_depth_range(batch, output, num_images)
        error_scale = scale / 2
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
