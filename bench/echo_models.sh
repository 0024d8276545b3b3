#!/bin/bash
# The figures of the README's "Echo models, measured" and of bench/echo_models.md: every seed
# claim, the best echo model and its variants on simulated V2 (12 rooms x 70 recordings, data
# seed 0), 3 seeds each, 20 epochs, 128x128.
#   bash bench/echo_models.sh [same|held|held10|held_log|held24|distill|tune|speed|all] [OUT]
#   (all: about ten hours on 2 cores)
# JOBS runs at once (default 2, one per core here; on a GPU machine, what the GPU holds),
# EPOCHS (default 20; fewer for a quick check of the script) and
# PYTHON (default .venv/bin/python) may be set in the environment.
set -e
stage=${1:-all}
out=${2:-runs/echo_models}
PY=${PYTHON:-.venv/bin/python}
COMMON=(datasets.batvision.image_size 128 datasets.batvision.preprocessing improved
        datasets.batvision.features_on device
        model.depth_net.UNetSoundOnly.generator unet_128 model.depth_net.UNetSoundOnly.ngf 16
        model.depth_net.BaseResidualUNet.base_channels 8
        model.depth_net.BinauralAttentionUNet.base_channels 8
        model.depth_net.RGBDepthUNet.base_channels 8 model.loss.base_residual.warmup_epochs 5
        datasets.train.batch_size 16 datasets.validation.batch_size 32
        datasets.test.batch_size 32 log.images_every 0 log.tensorboard.enabled false
        checkpoint.save_top_k 0 datasets.cache_dir "$out/cache")

benchmark() {   # SPLIT OUT_SUBFOLDER CONFIG... [-- KEY VALUE...]; $seeds seeds (default 3),
                # the report named $report (default benchmark)
    split=$1 folder=$2; shift 2
    configs=(); while [ $# -gt 0 ] && [ "$1" != "--" ]; do configs+=("$1"); shift; done
    [ "$1" = "--" ] && shift
    $PY scripts/benchmark_echo.py --configs "${configs[@]}" --seeds "${seeds:-3}" \
        --generate "${rooms:-12}" "${recordings:-70}" 0 --split "$split" --epochs "${EPOCHS:-20}" \
        --jobs "${JOBS:-2}" --out "$out/$folder" --report "${report:-benchmark}" \
        "${COMMON[@]}" "$@"
}

if [ "$stage" = all ] || [ "$stage" = same ]; then
    benchmark same-rooms same-rooms configs/train_unet_batvision_v2.yaml \
        configs/echo_delay_net_v2.yaml bench/configs/echo_delay_net_v2_no_mirror.yaml \
        bench/configs/echo_delay_net_v2_{wide,ema}.yaml bench/configs/unet_v2_mirror.yaml \
        bench/configs/echo_delay_net_v2_gcc.yaml \
        configs/train_base_residual_v2.yaml configs/train_binaural_attention_v2.yaml
    # The U-Net beside EchoDelayNet with weight averaging, in the same rooms.
    report=same_two_stream benchmark same-rooms same-rooms configs/train_unet_batvision_v2.yaml \
        configs/echo_delay_net_v2.yaml configs/echo_best_v2.yaml
fi
if [ "$stage" = all ] || [ "$stage" = held ]; then
    # The models above in new rooms, and what was tried to generalise: width, dropout,
    # weight averaging, SpecAugment, the loss, a scaled world, an equaliser per ear, depth,
    # a warm-up, GroupNorm, an RMSE term, the interaural time difference (and the U-Net given it),
    # the delay readout, finer frequency bands, the learning rate (half, and twice with and
    # without weight averaging), the weight decay, a query grid of more columns than rows,
    # supervision at one scale instead of four, the linear spectrogram (and the U-Net given it),
    # a learned log depth per pixel, a full-resolution refinement, 4 frequency bands, one
    # encoder or decoder layer instead of two, a U-Net beside EchoDelayNet in one network (with and
    # without weight averaging), the delay tokens supervised on the echo profile, a refinement
    # attending to the tokens, two recordings heard at once, a SIlog term that forgives less of
    # the map's scale, each half of the loss alone, gradient clipping and wider refinements.
    benchmark held-out-rooms held-out-rooms configs/train_unet_batvision_v2.yaml \
        configs/echo_delay_net_v2.yaml configs/echo_best_v2.yaml \
        bench/configs/echo_delay_net_v2_no_mirror.yaml \
        bench/configs/unet_v2_mirror.yaml bench/configs/echo_delay_net_v2_{wide,dropout,16ch}.yaml \
        bench/configs/echo_delay_net_v2_ema.yaml \
        bench/configs/echo_delay_net_v2_wide_{dropout,freq_mask,mse,berhu}.yaml \
        bench/configs/echo_delay_net_v2_{room_scale15,room_scale30,eq,deep_encoder}.yaml \
        bench/configs/echo_delay_net_v2_{deep_decoder,warmup,group_norm,rmse,gcc,delays}.yaml \
        bench/configs/echo_delay_net_v2_{freq16,lr5e-4,wd05,lr2e-3,lr2e-3_ema,azimuth}.yaml \
        bench/configs/echo_delay_net_v2_{one_scale,band_norm,global_depth}.yaml \
        bench/configs/unet_v2_gcc.yaml bench/configs/{echo_delay_net_v2,unet_v2}_spectrogram.yaml \
        bench/configs/echo_delay_net_v2_{pixel_depth,full_resolution,freq4}.yaml \
        bench/configs/echo_delay_net_v2_shallow_{encoder,decoder}.yaml \
        bench/configs/echo_best_v2_no_ema.yaml \
        bench/configs/echo_delay_net_v2_{profile,refine_attention,mix,silog05}.yaml \
        bench/configs/echo_delay_net_v2_{l1,silog,clip,refine32}.yaml
fi
if [ "$stage" = all ] || [ "$stage" = held10 ]; then
    # The held-out target with 10 seeds instead of 3 (seeds 0-2 are the held stage's runs):
    # the U-Net, echo_delay_net_v2 and its variants with weight averaging and with weight decay
    # 0.05, in benchmark_10_seeds.md.
    seeds=10 report=benchmark_10_seeds benchmark held-out-rooms held-out-rooms \
        configs/train_unet_batvision_v2.yaml configs/echo_delay_net_v2.yaml \
        bench/configs/echo_delay_net_v2_{ema,wd05}.yaml
    # ... and the U-Net beside EchoDelayNet in one network, without and with weight averaging,
    # in benchmark_10_seeds_two_stream.md.
    seeds=10 report=benchmark_10_seeds_two_stream benchmark held-out-rooms held-out-rooms \
        configs/train_unet_batvision_v2.yaml configs/echo_delay_net_v2.yaml \
        bench/configs/echo_best_v2_no_ema.yaml configs/echo_best_v2.yaml
    # ... the latter with 20 seeds (0-9 are the runs above), in
    # benchmark_20_seeds_two_stream.md.
    seeds=20 report=benchmark_20_seeds_two_stream benchmark held-out-rooms held-out-rooms \
        configs/train_unet_batvision_v2.yaml configs/echo_best_v2.yaml
    # ... and echo_delay_net_v2 with the same 20 seeds, in benchmark_20_seeds.md. (Both reports
    # name the U-Net's untrained runs, seeds 17 and 18 on a 2-core AMD EPYC, seed 17 on a 2-core
    # Intel Xeon, and compare again without their seeds.)
    seeds=20 report=benchmark_20_seeds benchmark held-out-rooms held-out-rooms \
        configs/train_unet_batvision_v2.yaml configs/echo_delay_net_v2.yaml
    # Both with 2 attention heads of 16 channels instead of 4 of 8 (faster on the CPU), in
    # benchmark_10_seeds_heads2.md.
    seeds=10 report=benchmark_10_seeds_heads2 benchmark held-out-rooms held-out-rooms \
        configs/train_unet_batvision_v2.yaml bench/configs/echo_delay_net_v2_heads2.yaml \
        bench/configs/echo_best_v2_heads2.yaml
    # The blend weight of echo_best_v2 picked on validation (of 0-0.5), then scored once on test
    # with the pick.
    $PY bench/pick_on_validation.py --runs "$out/held-out-rooms/runs" \
        --config echo_best_v2 --reference train_unet_batvision_v2 \
        --key model.depth_net.EchoTwoStreamNet.unet_weight --values 0 0.1 0.2 0.3 0.4 0.5 \
        --seeds 0 1 2 3 4 5 6 7 8 9
fi
if [ "$stage" = all ] || [ "$stage" = held_log ]; then
    # The U-Net and echo_delay_net_v2 in held-out rooms with preprocessing improved_log:
    # decibel-like features (log(magnitude + 1e-3)) instead of log1p, for both.
    benchmark held-out-rooms held-out-rooms-log configs/train_unet_batvision_v2.yaml \
        configs/echo_delay_net_v2.yaml -- datasets.batvision.preprocessing improved_log
fi
if [ "$stage" = all ] || [ "$stage" = held24 ]; then
    # Held-out rooms with the same 840 recordings spread over twice the rooms (24 x 35): 16
    # rooms to learn from instead of 8, and 8 unseen rooms instead of 4.
    rooms=24 recordings=35 benchmark held-out-rooms held-out-24-rooms \
        configs/train_unet_batvision_v2.yaml configs/echo_delay_net_v2.yaml \
        bench/configs/unet_v2_mirror.yaml bench/configs/echo_delay_net_v2_{wide,16ch,dropout}.yaml \
        bench/configs/echo_delay_net_v2_wide_{dropout,freq_mask}.yaml
fi
if [ "$stage" = all ] || [ "$stage" = distill ]; then
    # Seed 003 on the same-rooms data (made by the first stage): one RGB teacher (seed 0, 10
    # epochs), then the audio-only student and the depth-distilled student, 3 seeds each, 20
    # epochs like every other row (the attention students are the slowest models here: 5x
    # the U-Net per epoch, about 45 minutes for the six runs on 2 cores).
    data="$out/same-rooms/data/v2_12x70_seed0_same-rooms"
    teacher="$out/teacher/RGBDepthUNet_batvisionv2_BS16_Lr0.001_AdamW_rgb_teacher/last.ckpt"
    if [ ! -f "$teacher" ]; then
        $PY scripts/train.py configs/distill_rgb_teacher_v2.yaml "${COMMON[@]}" arch.seed 0 \
            arch.max_epochs 10 datasets.train.path "['$data']" \
            datasets.validation.path "['$data']" datasets.test.path "['$data']" \
            checkpoint.filepath "$out/teacher" name rgb_teacher
    fi
    $PY scripts/benchmark_echo.py --configs configs/distill_audio_only_v2.yaml \
        configs/distill_kd_depth_v2.yaml --seeds 3 --data "$data" --epochs 20 --jobs "${JOBS:-2}" \
        --out "$out/distillation" "${COMMON[@]}" model.distillation.teacher_checkpoint "$teacher"
fi
if [ "$stage" = all ] || [ "$stage" = tune ]; then
    # Base+Residual, what the seeds left open, one change at a time; seed 0, read on validation.
    seeds=1 benchmark same-rooms base-residual-tuning configs/train_base_residual_v2.yaml \
        bench/configs/base_residual_v2_{lowpass8,lowpass32,no_curriculum}.yaml
fi
if [ "$stage" = all ] || [ "$stage" = speed ]; then
    # Time per training step against the U-Net, the configs in turn in one process (one thread,
    # as each job above), so the ratio does not depend on what runs beside.
    $PY bench/step_time.py --configs configs/train_unet_batvision_v2.yaml \
        configs/echo_delay_net_v2.yaml bench/configs/echo_delay_net_v2_{ema,heads2}.yaml \
        bench/configs/echo_best_v2_no_ema.yaml configs/echo_best_v2.yaml \
        bench/configs/echo_best_v2_heads2.yaml "${COMMON[@]}" \
        datasets.cache_dir ''
fi
