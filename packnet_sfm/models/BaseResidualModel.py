"""Base + Residual depth model (seeds 000/001): a network predicting final = base + residual
(e.g. BaseResidualUNet) trained with `BaseResidualLoss`.

Curriculum (`model.loss.base_residual.curriculum`): from epoch `warmup_epochs` on (0-based),
the network is run with `detach_base=True`, so final = base.detach() + residual and the
reconstruction loss no longer reaches the base decoder; the structure loss still trains it.
"""
import inspect

from packnet_sfm.losses.base_residual_loss import BaseResidualLoss
from packnet_sfm.models.SemiSupModel import SemiSupModel
from packnet_sfm.utils.config import ConfigError
from packnet_sfm.utils.visualization import colorize_depth, colorize_signed, make_grid

DECOMPOSITION_KEYS = ('base', 'residual')


class BaseResidualModel(SemiSupModel):
    """A SemiSupModel whose supervised loss is the Base + Residual loss; its output also holds
    'base' and 'residual' ([B,1,H,W] metres) and its pictures a 'decomposition' grid."""

    def __init__(self, depth_net, supervised_loss, curriculum=False, **semisup_kwargs):
        """`supervised_loss`: a BaseResidualLoss."""
        if 'detach_base' not in inspect.signature(depth_net.forward).parameters:
            raise ConfigError(f"model.name BaseResidualModel needs a depth network predicting "
                              f"base and residual (forward(..., detach_base)), e.g. "
                              f"BaseResidualUNet; got {type(depth_net).__name__}")
        super().__init__(depth_net, supervised_loss, **semisup_kwargs)
        self.curriculum = curriculum

    @classmethod
    def from_config(cfg_cls, cfg, depth_scale, max_depth, **kwargs):
        return super().from_config(
            cfg, depth_scale, max_depth,
            supervised_loss=BaseResidualLoss.from_config(cfg.model.loss),
            curriculum=cfg.model.loss.base_residual.curriculum, **kwargs)

    def set_epoch(self, epoch):
        super().set_epoch(epoch)
        self.supervised_loss.set_epoch(epoch)

    @property
    def detach_base(self):
        """True once the curriculum has passed the warm-up."""
        return self.curriculum and self.epoch >= self.supervised_loss.warmup_epochs

    def predict(self, batch, return_features=False):
        """The network's final, base and residual maps, converted to metres."""
        output = super().predict(batch, return_features, detach_base=self.detach_base)
        return {**output, **{key: [d * self.depth_scale for d in output[key]]
                             for key in DECOMPOSITION_KEYS}}

    def forward(self, batch):
        """{'loss', 'metrics' (loss_recon, loss_base, loss_sparse), 'depth', 'base', 'residual',
        'gt'} with maps [B,1,H,W] in metres (gt 0 where invalid); the loss and its terms are in
        the network's units (see SemiSupModel)."""
        output = self.predict(batch)
        final, base, residual = (output[key][0] for key in ('depth', *DECOMPOSITION_KEYS))
        valid = batch['valid']
        loss = self.supervised_loss(*self.network_units([final, base, residual]),
                                    batch['depth'], valid)
        return {**output, 'loss': loss, 'metrics': dict(self.supervised_loss.metrics),
                'depth': final, 'base': base, 'residual': residual,
                'gt': batch['depth'] * self.depth_scale * valid}

    def pictures(self, batch, output, num_images=4):
        """The parent's 'prediction' grid and a 'decomposition' grid: one row of
        Base | Residual | Final | GT per sample, the residual on a diverging map centred at 0."""
        limit = self.depth_net.residual_scale * self.max_depth
        scale = self.picture_depth_range(batch, output, num_images)
        rows = []
        for i in range(min(num_images, output['depth'].shape[0])):
            valid = batch['valid'][i]
            rows.append([('base', colorize_depth(output['base'][i], scale)),
                         (f'residual +-{limit:.3g} m', colorize_signed(output['residual'][i],
                                                                      limit)),
                         ('final', colorize_depth(output['depth'][i], scale)),
                         ('ground truth', colorize_depth(output['gt'][i], scale, valid))])
        return {**super().pictures(batch, output, num_images), 'decomposition': make_grid(rows)}
