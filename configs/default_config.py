"""Every configuration key with its default. A run's YAML and command-line overrides are merged
over this tree; a key that is not here is an error (see packnet_sfm/utils/config.py)."""
from yacs.config import CfgNode as CN


class SplitOptions(CN):
    """Per-split values of a dataset option node (`datasets.train.kitti` over `datasets.kitti`):
    empty by default, it accepts the keys of `defaults` with their types (checked by
    packnet_sfm/utils/config.py); a key it does not set falls back to `defaults`."""

    def __init__(self, defaults=None):
        super().__init__()
        self.__dict__['defaults'] = defaults


_C = CN()
_C.name = ''                            # experiment name, the last part of the run folder name

########################################################################################################
# Architecture: how training runs
########################################################################################################
_C.arch = CN()
_C.arch.seed = 42                       # seeds python, numpy, torch and data loader workers
_C.arch.max_epochs = 50
_C.arch.validate_every = 1              # validate (and save best checkpoints) every N epochs
_C.arch.amp = 'none'                    # 'none' | 'bf16' (CUDA or CPU) | 'fp16' (CUDA)
_C.arch.clip_grad = 0.0                 # max gradient norm; 0 disables clipping
_C.arch.device = 'auto'                 # 'auto' (CUDA when available) | 'cpu' | 'cuda'
_C.arch.distributed = 'auto'            # 'auto' (Horovod under horovodrun) | 'none' | 'horovod'
_C.arch.scale_lr = False                # multiply the learning rate by the number of ranks
_C.arch.deterministic = False           # torch deterministic algorithms (slower on GPU)
_C.arch.channels_last = False           # channels-last memory order for weights and images
_C.arch.compile = False                 # torch.compile the model (first steps compile it)
_C.arch.ema_decay = 0.0                 # evaluate and save an exponential moving average of
                                        # the depth network's weights (e.g. 0.99); 0: off

########################################################################################################
# Checkpoints and logs
########################################################################################################
_C.checkpoint = CN()
_C.checkpoint.filepath = 'runs'         # run folders go under this directory
_C.checkpoint.monitor = 'rmse'          # validation metric that ranks checkpoints
_C.checkpoint.save_top_k = 1            # keep the k best by `monitor` (0: only last.ckpt)
_C.checkpoint.monitor_index = 0         # the validation set (datasets.validation entry) monitored
_C.checkpoint.every_n_epochs = 0        # also keep epoch_XXXX.ckpt every N epochs (0: never)

_C.log = CN()
_C.log.images_every = 1                 # write a picture grid every N validations (0 disables)
_C.log.num_images = 4                   # samples per picture grid
_C.log.every_n_steps = 10               # training scalars every N training steps
_C.log.tensorboard = CN()               # <run folder>/tensorboard/
_C.log.tensorboard.enabled = True
_C.log.wandb = CN()                     # <run folder>/wandb/; needs pip install -e .[wandb]
_C.log.wandb.enabled = False
_C.log.wandb.project = 'packnet-sfm-echo'
_C.log.wandb.entity = ''                # W&B user or team; '' is your login's default
_C.log.wandb.name = ''                  # run name; '' is the run folder's name
_C.log.wandb.tags = []
_C.log.wandb.mode = 'online'            # 'online' | 'offline' (sync later) | 'disabled'

_C.evaluation = CN()
# Pixels the metrics score (packnet_sfm/utils/protocols.py): 'batvision' (gt > 0, the official
# code) | 'batvision_published' (0.5 m <= gt <= 30 m) | 'kitti_eigen' (0.001 < gt < 80 m, Garg
# crop) | 'custom' (the three keys below).
_C.evaluation.protocol = 'batvision'
_C.evaluation.min_depth = 0.0           # custom: pixels with min_depth < gt
_C.evaluation.max_depth = 0.0           # custom: ... and gt <= max_depth; 0 means no upper bound
_C.evaluation.crop = ''                 # custom: '' | 'garg' (KITTI)
_C.evaluation.with_loss = False         # also report the training loss on validation (slower)
_C.evaluation.use_gt_scale = False      # median scaling (for scale-ambiguous models)
# Score the mean of each prediction and the flipped-back prediction of its mirrored sample
# (ears swapped, maps flipped: datasets/augmentation.py mirror_batch); validation and eval.py.
_C.evaluation.test_time_mirror = False

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
_C.model.scheduler.warmup_steps = 0     # linear warm-up over the first N training steps

_C.model.loss = CN()
_C.model.loss.supervised_method = 'sparse-l1'   # '<sparse|dense>-<registered loss>'
_C.model.loss.supervised_loss_weight = 1.0      # w in (1-w)*self_supervised + w*supervised
_C.model.loss.supervised_num_scales = 1         # predicted scales the supervised loss uses
_C.model.loss.echo_profile_weight = 0.0         # of the echo profile's cross-entropy (EchoDelayNet)
# Each registered loss reads its own namespace (the loss name with '-' as '_').
_C.model.loss.berhu = CN()
_C.model.loss.berhu.threshold = 0.2             # c = threshold * max |pred - gt| per batch
_C.model.loss.silog = CN()
_C.model.loss.silog.silog_lambda = 0.85
_C.model.loss.combined = CN()
_C.model.loss.combined.l1_weight = 0.237
_C.model.loss.combined.silog_weight = 0.637
_C.model.loss.combined.silog_lambda = 0.869
_C.model.loss.combined.rmse_weight = 0.0     # ours: + RMSE, which seeks the mean
_C.model.loss.scale_adaptive = CN()
_C.model.loss.scale_adaptive.lambda_sg = 0.5
_C.model.loss.scale_adaptive.num_scales = 4
_C.model.loss.scale_adaptive.epsilon = 1e-6
_C.model.loss.scale_adaptive.use_absolute = True
_C.model.loss.scale_adaptive.use_inv_depth = False
# --- RGB path: self-supervision (weight 1 - supervised_loss_weight) and depth completion ---
_C.model.loss.photometric = CN()
_C.model.loss.photometric.num_scales = 4                # depth scales warped, each at full size
_C.model.loss.photometric.ssim_loss_weight = 0.85       # alpha of alpha*SSIM + (1-alpha)*L1
_C.model.loss.photometric.smooth_loss_weight = 0.001    # edge-aware inverse-depth smoothness
_C.model.loss.photometric.C1 = 1e-4                     # SSIM stabilisers
_C.model.loss.photometric.C2 = 9e-4
_C.model.loss.photometric.photometric_reduce_op = 'min' # 'min' (over context frames) | 'mean'
_C.model.loss.photometric.automask = True               # identity reprojection masks static pixels
_C.model.loss.photometric.padding_mode = 'zeros'        # grid_sample padding outside the context
_C.model.loss.completion = CN()                         # nets with input_depth (ResNetSAN01)
_C.model.loss.completion.rgb_loss_weight = 1.0          # supervised loss on the RGB-only prediction
_C.model.loss.completion.feature_consistency_weight = 1.0   # RGB features -> RGB+D features
# --- end RGB path losses ---

# --- Base + Residual model (model.name BaseResidualModel, seeds 000/001) ---
# L = lambda_recon * L_recon(final, gt) [supervised_method] + lambda_base * L_struct(base,
# lowpass(gt)) [structure_method] + lambda_sparse * mean|residual|.
_C.model.loss.base_residual = CN()
_C.model.loss.base_residual.lambda_recon = 1.0
_C.model.loss.base_residual.lambda_base = 0.8
_C.model.loss.base_residual.lambda_sparse = 0.2
_C.model.loss.base_residual.lowpass_kernel = 16         # mask-aware box filter of the GT (px)
_C.model.loss.base_residual.structure_method = 'sparse-l1'  # L_struct, a registered loss
_C.model.loss.base_residual.adaptive = False            # warmup_weights, then final_weights
_C.model.loss.base_residual.warmup_epochs = 20          # warm-up length (adaptive, curriculum)
_C.model.loss.base_residual.warmup_weights = CN()
_C.model.loss.base_residual.warmup_weights.recon = 0.5
_C.model.loss.base_residual.warmup_weights.base = 1.5
_C.model.loss.base_residual.warmup_weights.sparse = 0.3
_C.model.loss.base_residual.final_weights = CN()
_C.model.loss.base_residual.final_weights.recon = 1.0
_C.model.loss.base_residual.final_weights.base = 0.5
_C.model.loss.base_residual.final_weights.sparse = 0.3
_C.model.loss.base_residual.curriculum = False          # after warm-up: base.detach() + residual
# --- end Base + Residual ---

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
# 'official': Sigmoid when depth_norm, else ReLU (metres), as the BatVision code; 'bounded':
# sigmoid * max_depth in both cases.
_C.model.depth_net.UNetSoundOnly.output = 'official'
# Audio and RGB U-Nets (packnet_sfm/networks/depth/); max_depth and in_channels come from the run.
_C.model.depth_net.BaseResidualUNet = CN()
_C.model.depth_net.BaseResidualUNet.base_channels = 64   # 32 | 64 | 128: ~7.4M | 30M | 119M params
_C.model.depth_net.BaseResidualUNet.residual_scale = 0.2  # residual within +-scale * max_depth
_C.model.depth_net.BaseResidualUNet.prior_depth = 2.0   # m the head starts at (0: max_depth / 2)
_C.model.depth_net.BinauralAttentionUNet = CN()
_C.model.depth_net.BinauralAttentionUNet.base_channels = 64   # x1..x5: base * (1, 2, 4, 8, 8)
_C.model.depth_net.BinauralAttentionUNet.share_encoders = False   # one encoder for both ears
_C.model.depth_net.BinauralAttentionUNet.attention_levels = (4, 5)  # L/R cross-attention there
_C.model.depth_net.BinauralAttentionUNet.num_heads = 8
_C.model.depth_net.BinauralAttentionUNet.mlp_ratio = 4   # attention MLP width / channels
_C.model.depth_net.BinauralAttentionUNet.prior_depth = 2.0  # m at start (0: max_depth / 2)
_C.model.depth_net.RGBDepthUNet = CN()
_C.model.depth_net.RGBDepthUNet.base_channels = 64       # equal to the student's for feature KD
_C.model.depth_net.RGBDepthUNet.prior_depth = 2.0   # m the head starts at (0: max_depth / 2)
# Echo physics (packnet_sfm/networks/depth/EchoDelayNet.py): delay tokens (distance = c t / 2),
# pixel queries attending to them, log depth starting at prior_depth.
_C.model.depth_net.EchoDelayNet = CN()
_C.model.depth_net.EchoDelayNet.channels = 32           # width of delay tokens and queries
_C.model.depth_net.EchoDelayNet.freq_bins = 8           # frequency bands folded into channels
_C.model.depth_net.EchoDelayNet.query_grid = 16         # pixel queries: columns of patches
_C.model.depth_net.EchoDelayNet.query_rows = 0          # and rows (0: as many as columns)
_C.model.depth_net.EchoDelayNet.encoder_layers = 2      # Transformer over the delay tokens
_C.model.depth_net.EchoDelayNet.decoder_layers = 2      # queries attending to the delays
_C.model.depth_net.EchoDelayNet.num_heads = 4
_C.model.depth_net.EchoDelayNet.dropout = 0.0           # in the Transformer layers
_C.model.depth_net.EchoDelayNet.refine_channels = 16
_C.model.depth_net.EchoDelayNet.refinements = 2          # each doubles the query grid's map
_C.model.depth_net.EchoDelayNet.norm = 'batch'          # 'batch' | 'group' (per sample)
_C.model.depth_net.EchoDelayNet.interaural = False      # read GCC-PHAT (mel_spectrogram_gcc)
_C.model.depth_net.EchoDelayNet.readout = 'log'         # 'log' | 'delays' (point at the delays)
_C.model.depth_net.EchoDelayNet.band_norm = False      # standardise each frequency row
_C.model.depth_net.EchoDelayNet.global_log_depth = False  # + a log depth per recording
_C.model.depth_net.EchoDelayNet.pixel_log_depth = False   # + a learned log depth per pixel
_C.model.depth_net.EchoDelayNet.attending_refinements = 0  # refinements attending to delays
_C.model.depth_net.EchoDelayNet.profile_sectors = 0     # predict the echo profile in N sectors
_C.model.depth_net.EchoDelayNet.prior_depth = 2.0       # metres: the training mean depth
# EchoDelayNet (its keys above) and a small U-Net on the same input, their depths blended
# (packnet_sfm/networks/depth/EchoTwoStreamNet.py).
_C.model.depth_net.EchoTwoStreamNet = _C.model.depth_net.EchoDelayNet.clone()
_C.model.depth_net.EchoTwoStreamNet.unet_generator = 'unet_128'
_C.model.depth_net.EchoTwoStreamNet.unet_ngf = 8
_C.model.depth_net.EchoTwoStreamNet.unet_weight = 0.3      # of the U-Net's depth in the blend

# Knowledge distillation (model.name DistillationModel, seed 003) from a frozen, trained teacher:
# loss = (2 - w_kd) * task + w_kd * (lambda_kd * depth MSE + lambda_feat * feature MSE).
_C.model.distillation = CN()
_C.model.distillation.teacher_checkpoint = ''  # teacher's training .ckpt (holds its config)
_C.model.distillation.lambda_kd = 0.1          # MSE(student, teacher depth), m^2, valid GT
_C.model.distillation.lambda_feat = 0.0        # sum of feature MSEs over feature_levels; 0: off
_C.model.distillation.feature_levels = ('x3', 'x4', 'x5')  # of x1..x5, d1..d4
_C.model.distillation.use_adapters = False     # 1x1 conv at every level (always: channels differ)
_C.model.distillation.schedule = 'constant'    # w_kd: 'constant' (1) | 'linear' | 'cosine' ...
_C.model.distillation.final_kd_fraction = 0.1  # ... from 1 at the first epoch to this at the last
# Raw-waveform input (audio_format: waveform): 1-D conv encoder, 2-D decoder.
_C.model.depth_net.WaveformDepthNet = CN()
_C.model.depth_net.WaveformDepthNet.base_channels = 32
_C.model.depth_net.WaveformDepthNet.output_size = 256    # must equal datasets.batvision.image_size
# --- RGB path (KITTI): ResNet depth nets; max_depth comes from the run (dataset max_depth) ---
# version: ResNet depth (18 | 34 | 50) + 'pt' (ImageNet weights from pretrained_path) or 'nt'.
_C.model.depth_net.DepthResNet = CN()
_C.model.depth_net.DepthResNet.version = '18pt'
_C.model.depth_net.DepthResNet.min_depth = 0.1          # metres, the nearest depth predicted
_C.model.depth_net.DepthResNet.pretrained_path = ''     # ImageNet ResNet state dict file ('pt')
_C.model.depth_net.DepthResNet.num_scales = 4           # output maps, finest first
_C.model.depth_net.ResNetSAN01 = CN()
_C.model.depth_net.ResNetSAN01.version = '18pt'
_C.model.depth_net.ResNetSAN01.min_depth = 0.1
_C.model.depth_net.ResNetSAN01.pretrained_path = ''
_C.model.depth_net.ResNetSAN01.num_scales = 4
_C.model.depth_net.ResNetSAN01.use_film = False         # FiLM on RGB features from sparse depth
_C.model.depth_net.ResNetSAN01.film_scales = [0]        # levels FiLM modulates (0: stride 2)

# Pose network, used when supervised_loss_weight < 1: packnet_sfm/networks/pose/<name>.py.
_C.model.pose_net = CN()
_C.model.pose_net.name = 'PoseNet'                      # 'PoseNet' | 'PoseResNet'
_C.model.pose_net.PoseNet = CN()
_C.model.pose_net.PoseNet.channels = [16, 32, 64, 128, 256, 256, 256]   # strided conv widths
_C.model.pose_net.PoseResNet = CN()
_C.model.pose_net.PoseResNet.version = '18nt'
_C.model.pose_net.PoseResNet.pretrained_path = ''
# --- end RGB path networks ---

########################################################################################################
# Datasets
########################################################################################################
_C.datasets = CN()
# Options of the BatVision loaders, shared by the train, validation and test splits.
_C.datasets.batvision = CN()
_C.datasets.batvision.audio_format = 'spectrogram'  # spectrogram | mel_spectrogram[_gcc] | waveform
_C.datasets.batvision.max_depth = 30.0              # metres; depth is clipped to it
_C.datasets.batvision.depth_norm = True             # depth divided by max_depth
_C.datasets.batvision.image_size = 256              # features and depth resized to image_size^2
# 'official': the published recipe (bilinear resize without antialiasing, as torchvision < 0.17);
# 'official_antialias': the same recipe with today's torchvision antialiasing; 'improved':
# log-magnitude, ears standardised together, nearest-neighbour depth with a valid mask;
# 'improved_log': the same with log(magnitude + 1e-3) for log1p (datasets/audio.py).
_C.datasets.batvision.preprocessing = 'official'
_C.datasets.batvision.load_rgb = False              # also read the camera image
_C.datasets.batvision.features_on = 'loader'        # 'loader' | 'device': the loader yields cut
#                                                     waveforms, the model computes the features
# --- RGB path: options of the KITTI raw loader (real or synthetic), see KITTIDataset ---
_C.datasets.kitti = CN()
_C.datasets.kitti.depth_type = 'groundtruth'        # 'groundtruth' (proj_depth PNGs) | 'velodyne'
_C.datasets.kitti.input_depth_type = ''             # '' | 'velodyne': sparse LiDAR as input_depth
_C.datasets.kitti.back_context = 0                  # previous frames in rgb_context (training
_C.datasets.kitti.forward_context = 0               # ... only: evaluation keeps every frame)
_C.datasets.kitti.image_shape = [192, 640]          # (height, width), multiples of 32
_C.datasets.kitti.max_depth = 80.0                  # metres; GT beyond it is not valid
# --- end KITTI ---
# Training augmentation (train split only): RGB samples (KITTI) in the loader, echoes below.
_C.datasets.augmentation = CN()
_C.datasets.augmentation.flip_prob = 0.0            # horizontal flip of the whole sample
_C.datasets.augmentation.brightness = 0.0           # colour jitter factors drawn from
_C.datasets.augmentation.contrast = 0.0             # [1 - x, 1 + x], the same on a sample's
_C.datasets.augmentation.saturation = 0.0           # target and context frames
_C.datasets.augmentation.hue = 0.0                  # hue shift in [-x, x] turns (x <= 0.5)
# Echo augmentation (training only, on the waveform in the model: features_on device).
_C.datasets.augmentation.echo_gain_db = 0.0         # gain per ear, uniform in +-x dB
_C.datasets.augmentation.echo_shift_samples = 0     # delay of the recording, +-N samples
_C.datasets.augmentation.echo_mirror_prob = 0.0     # mirrored world: ears swapped, maps flipped
_C.datasets.augmentation.echo_freq_mask_rows = 0    # a band of up to N feature rows set to 0
_C.datasets.augmentation.echo_room_scale = 0.0      # world scaled by 1 +- x: depth, echo delays
_C.datasets.augmentation.echo_eq_db = 0.0           # a band boosted or cut by up to x dB per ear
_C.datasets.augmentation.echo_mix_prob = 0.0        # heard with another recording: nearer depth
# Dataset option nodes that a split can override: datasets.<split>.<node>.<key>.
DATASET_OPTION_NODES = ('batvision', 'kitti')


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
    node.on_bad_sample = 'error'        # 'error' | 'skip': leave out (count, list) bad samples
    node.persistent_workers = False     # keep loader workers between epochs (random augmentations
    #                                     then do not resume exactly)
    node.prefetch_factor = 2            # batches each worker loads ahead
    for name in DATASET_OPTION_NODES:   # e.g. datasets.validation.kitti.depth_type
        node[name] = SplitOptions(_C.datasets[name])
    return node


_C.datasets.train = _split('train', 8, True)
_C.datasets.validation = _split('val', 8, False)
_C.datasets.test = _split('test', 8, False)
# A training run with more bad samples than this fraction of an epoch stops (on_bad_sample skip).
_C.datasets.max_bad_fraction = 0.01
# Prepared cache of the loaders' deterministic work (datasets/cache.py; scripts/prepare_cache.py
# builds it ahead); '' reads the source files every epoch.
_C.datasets.cache_dir = ''


def get_cfg_defaults():
    """A fresh copy of the default configuration."""
    return _C.clone()
