"""TensorBoard logging through tensorboardX, into `<run folder>/tensorboard/`."""
import numpy as np
from tensorboardX import SummaryWriter

from packnet_sfm.loggers.base import Logger
from packnet_sfm.utils.config import dump


class TensorBoardLogger(Logger):
    def __init__(self, folder):
        self.folder = folder
        self.writer = SummaryWriter(logdir=str(folder))

    def config(self, cfg):
        self.writer.add_text('config', f'```\n{dump(cfg)}\n```', 0)

    def scalars(self, values, step, prefix=''):
        for name, value in values.items():
            self.writer.add_scalar(f'{prefix}{name}', float(value), step)

    def image(self, name, image, step):
        self.writer.add_image(name, np.ascontiguousarray(image), step, dataformats='HWC')

    def flush(self):
        self.writer.flush()

    def close(self):
        self.writer.close()
