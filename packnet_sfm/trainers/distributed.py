"""One process or N Horovod ranks behind one small interface. Horovod is imported only when the
run is launched by horovodrun or the config asks for it, so a single process never needs it
installed. Horovod is built with Gloo (no MPI): horovodrun is the launcher."""
import os

import torch

from packnet_sfm.utils.config import ConfigError


def launched_by_horovod():
    """Whether this process was started by horovodrun (which sets HOROVOD_RANK)."""
    return 'HOROVOD_RANK' in os.environ


class SingleProcess:
    """The trivial world of one rank."""

    rank, size, local_rank = 0, 1, 0
    is_main = True

    def broadcast_state(self, model, optimizer):
        """Nothing to share."""

    def wrap_optimizer(self, optimizer, model):
        return optimizer

    def gather(self, tensor):
        return tensor

    def gather_objects(self, obj):
        return [obj]

    def average(self, values):
        return values

    def synchronize(self, optimizer):
        """Gradients are local already."""

    def step(self, optimizer, scaler):
        scaler.step(optimizer)


class Horovod:
    """The world of horovodrun: rank 0 broadcasts, gradients are averaged by Horovod."""

    def __init__(self):
        try:
            import horovod.torch as hvd
        except ImportError as error:
            raise ConfigError(
                "Distributed training needs Horovod: run `make horovod` (or "
                "docker/install_horovod.sh), or set arch.distributed none") from error
        hvd.init()
        self.hvd = hvd
        self.rank, self.size, self.local_rank = hvd.rank(), hvd.size(), hvd.local_rank()
        self.is_main = self.rank == 0
        if torch.cuda.is_available():
            torch.cuda.set_device(self.local_rank)

    def broadcast_state(self, model, optimizer):
        """Make every rank start from rank 0's parameters and optimiser state. A fresh
        optimiser has no state to share (and Horovod would initialise it with a zero-gradient
        step, which weight decay turns into a parameter change)."""
        self.hvd.broadcast_parameters(model.state_dict(), root_rank=0)
        if optimizer.state_dict()['state']:
            self.hvd.broadcast_optimizer_state(optimizer, root_rank=0)

    def wrap_optimizer(self, optimizer, model):
        return self.hvd.DistributedOptimizer(optimizer, named_parameters=model.named_parameters())

    def gather(self, tensor):
        """Concatenate every rank's tensor along the first dimension (sizes may differ)."""
        return self.hvd.allgather(tensor)

    def gather_objects(self, obj):
        """Every rank's picklable `obj`, in rank order."""
        return self.hvd.allgather_object(obj)

    def average(self, values):
        """A dict of floats averaged over the ranks (every rank passes the same keys)."""
        names = sorted(values)
        mean = self.hvd.allreduce(torch.tensor([values[n] for n in names], dtype=torch.float64),
                                  op=self.hvd.Average, name='epoch_summary')
        return dict(zip(names, mean.tolist()))

    def synchronize(self, optimizer):
        """Finish the gradient allreduce (before clipping or unscaling)."""
        optimizer.synchronize()

    def step(self, optimizer, scaler):
        with optimizer.skip_synchronize():
            scaler.step(optimizer)


def setup_distributed(mode='auto'):
    """`mode`: 'auto' (Horovod when launched by horovodrun), 'none' or 'horovod'."""
    if mode not in ('auto', 'none', 'horovod'):
        raise ConfigError(f"arch.distributed must be 'auto', 'none' or 'horovod', not '{mode}'")
    if mode == 'horovod' or (mode == 'auto' and launched_by_horovod()):
        return Horovod()
    return SingleProcess()
