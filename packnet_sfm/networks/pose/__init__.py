"""Pose networks, built by class name from `model.pose_net.name`."""
from packnet_sfm.utils.load import load_class

POSE_NETS = 'packnet_sfm.networks.pose'


def build_pose_net(cfg):
    """Build `cfg.model.pose_net.name` with its config sub-node as keyword arguments."""
    name = cfg.model.pose_net.name
    return load_class(name, POSE_NETS, 'model.pose_net.name')(**cfg.model.pose_net.get(name, {}))
