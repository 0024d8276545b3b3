"""TensorBoard logging through tensorboardX (rank 0 only; other ranks get a silent logger)."""
import numpy as np
from tensorboardX import SummaryWriter


class TensorBoardLogger:
    def __init__(self, folder):
        self.folder = folder
        self.writer = SummaryWriter(logdir=str(folder))

    def scalars(self, values, step, prefix=''):
        for name, value in values.items():
            self.writer.add_scalar(f'{prefix}{name}', float(value), step)

    def image(self, name, image, step):
        """An HxWx3 uint8 RGB picture."""
        self.writer.add_image(name, np.ascontiguousarray(image), step, dataformats='HWC')

    def text(self, name, text, step=0):
        self.writer.add_text(name, text, step)

    def flush(self):
        self.writer.flush()

    def close(self):
        self.writer.close()


class NullLogger:
    """What ranks other than 0 log: nothing."""

    def scalars(self, values, step, prefix=''):
        pass

    def image(self, name, image, step):
        pass

    def text(self, name, text, step=0):
        pass

    def flush(self):
        pass

    def close(self):
        pass
