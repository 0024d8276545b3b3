"""Every configuration key with its default. A run's YAML and command-line overrides are merged
over this tree; a key that is not here is an error (see packnet_sfm/utils/config.py)."""
from yacs.config import CfgNode as CN

_C = CN()
_C.name = ''                            # experiment name, the last part of the run folder name

########################################################################################################
# Architecture: how training runs
########################################################################################################
_C.arch = CN()
_C.arch.seed = 42                       # seeds python, numpy, torch and data loader workers
_C.arch.max_epochs = 50
_C.arch.validate_every = 1              # validate (and save best checkpoints) every N epochs
_C.arch.amp = 'none'                    # mixed precision on CUDA: 'none' | 'bf16' | 'fp16'
_C.arch.clip_grad = 0.0                 # max gradient norm; 0 disables clipping
_C.arch.device = 'auto'                 # 'auto' (CUDA when available) | 'cpu' | 'cuda'
_C.arch.distributed = 'auto'            # 'auto' (Horovod when launched by horovodrun/mpirun) | 'none' | 'horovod'
_C.arch.scale_lr = False                # multiply the learning rate by the number of ranks
_C.arch.deterministic = False           # torch deterministic algorithms (slower on GPU)

########################################################################################################
# Checkpoints and logs
########################################################################################################
_C.checkpoint = CN()
_C.checkpoint.filepath = 'runs'         # run folders go under this directory
_C.checkpoint.monitor = 'rmse'          # validation metric that ranks checkpoints
_C.checkpoint.save_top_k = 1            # keep the k best checkpoints by `monitor` (0: only last.ckpt)

_C.log = CN()
_C.log.images_every = 1                 # write a picture grid every N validations (0 disables)
_C.log.num_images = 4                   # samples per picture grid
_C.log.every_n_steps = 10               # TensorBoard scalars every N training steps

_C.evaluation = CN()
_C.evaluation.min_depth = 0.0           # metrics use pixels with min_depth < gt
_C.evaluation.max_depth = 0.0           # ... and gt <= max_depth; 0 means no upper bound
_C.evaluation.crop = ''                 # '' | 'garg' (KITTI)
_C.evaluation.use_gt_scale = False      # median scaling (for scale-ambiguous models)

########################################################################################################
# Model: what is optimised
########################################################################################################
_C.model = CN()
_C.model.name = 'SemiSupModel'          # class in packnet_sfm/models/<name>.py
_C.model.checkpoint_path = ''           # initialise the whole model from this checkpoint

_C.model.optimizer = CN()
_C.model.optimizer.name = 'AdamW'       # 'AdamW' | 'Adam' | 'SGD'
_C.model.optimizer.lr = 1e-3
_C.model.optimizer.weight_decay = 0.01
_C.model.optimizer.momentum = 0.9       # SGD only

_C.model.scheduler = CN()
_C.model.scheduler.name = 'none'        # 'none' | 'StepLR' | 'cosine'
_C.model.scheduler.step_size = 30       # StepLR: epochs between decays
_C.model.scheduler.gamma = 0.1          # StepLR: decay factor
_C.model.scheduler.min_lr = 0.0         # cosine: final learning rate

_C.model.loss = CN()
_C.model.loss.supervised_method = 'sparse-l1'   # '<sparse|dense>-<registered loss>'
_C.model.loss.supervised_loss_weight = 1.0      # w in (1-w)*self_supervised + w*supervised
_C.model.loss.supervised_num_scales = 1         # predicted scales the supervised loss uses
# Each registered loss reads its own namespace (the loss name with '-' as '_').
_C.model.loss.berhu = CN()
_C.model.loss.berhu.threshold = 0.2             # c = threshold * max |pred - gt| per batch
_C.model.loss.silog = CN()
_C.model.loss.silog.silog_lambda = 0.85
_C.model.loss.combined = CN()
_C.model.loss.combined.l1_weight = 0.237
_C.model.loss.combined.silog_weight = 0.637
_C.model.loss.combined.silog_lambda = 0.869
_C.model.loss.scale_adaptive = CN()
_C.model.loss.scale_adaptive.lambda_sg = 0.5
_C.model.loss.scale_adaptive.num_scales = 4
_C.model.loss.scale_adaptive.epsilon = 1e-6
_C.model.loss.scale_adaptive.use_absolute = True
_C.model.loss.scale_adaptive.use_inv_depth = False

# Depth network: `name` picks the class in packnet_sfm/networks/depth/<name>.py; its constructor
# parameters are read from the sub-node of the same name.
_C.model.depth_net = CN()
_C.model.depth_net.name = 'UNetSoundOnly'
_C.model.depth_net.checkpoint_path = ''         # initialise the depth net from this checkpoint
_C.model.depth_net.UNetSoundOnly = CN()
_C.model.depth_net.UNetSoundOnly.generator = 'unet_256'   # 'unet_256' | 'unet_128'
_C.model.depth_net.UNetSoundOnly.ngf = 64
_C.model.depth_net.UNetSoundOnly.input_nc = 2
_C.model.depth_net.UNetSoundOnly.use_dropout = False
# Audio and RGB U-Nets (packnet_sfm/networks/depth/); max_depth and in_channels come from the run.
_C.model.depth_net.BaseResidualUNet = CN()
_C.model.depth_net.BaseResidualUNet.base_channels = 64   # 32 | 64 | 128: ~7.4M | 30M | 119M params
_C.model.depth_net.BaseResidualUNet.residual_scale = 0.2  # residual within +-scale * max_depth
_C.model.depth_net.BinauralAttentionUNet = CN()
_C.model.depth_net.BinauralAttentionUNet.base_channels = 64   # x1..x5: base * (1, 2, 4, 8, 8)
_C.model.depth_net.BinauralAttentionUNet.share_encoders = False   # one encoder for both ears
_C.model.depth_net.BinauralAttentionUNet.attention_levels = (4, 5)  # L/R cross-attention there
_C.model.depth_net.BinauralAttentionUNet.num_heads = 8
_C.model.depth_net.BinauralAttentionUNet.mlp_ratio = 4   # attention MLP width / channels
_C.model.depth_net.RGBDepthUNet = CN()
_C.model.depth_net.RGBDepthUNet.base_channels = 64       # equal to the student's for feature KD

########################################################################################################
# Datasets
########################################################################################################
_C.datasets = CN()
# Options of the BatVision loaders, shared by the train, validation and test splits.
_C.datasets.batvision = CN()
_C.datasets.batvision.audio_format = 'spectrogram'  # 'spectrogram' | 'mel_spectrogram' (V2) | 'waveform'
_C.datasets.batvision.max_depth = 30.0              # metres; depth is clipped to it
_C.datasets.batvision.depth_norm = True             # depth divided by max_depth
_C.datasets.batvision.image_size = 256              # features and depth resized to image_size^2
_C.datasets.batvision.preprocessing = 'official'    # 'official' (paper recipe) | 'improved'
_C.datasets.batvision.load_rgb = False              # also read the camera image


def _split(split, batch_size, shuffle):
    node = CN()
    node.dataset = ['BatvisionV2']      # parallel lists: one entry per dataset to concatenate
    node.path = ['data/batvision_v2']
    node.split = [split]
    node.batch_size = batch_size        # per rank
    node.num_workers = 2
    node.shuffle = shuffle
    node.locations = []                 # BatVision V2: only these locations (empty: all)
    node.exclude_locations = []         # BatVision V2: skip these locations
    return node


_C.datasets.train = _split('train', 8, True)
_C.datasets.validation = _split('val', 8, False)
_C.datasets.test = _split('test', 8, False)


def get_cfg_defaults():
    """A fresh copy of the default configuration."""
    return _C.clone()
