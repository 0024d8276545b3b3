"""The logger interface the trainer writes to, and a group that writes to several at once."""


class Logger:
    """What the trainer logs. Every method does nothing here: the logger of ranks other than 0.

    `state_dict()` is plain data kept in checkpoints, so a resumed run continues its logs
    (a W&B run id, for instance).
    """

    def config(self, cfg):
        """The merged config of the run, at the start of training."""

    def scalars(self, values, step, prefix=''):
        """`{name: number}`, each logged as `prefix + name` at `step`."""

    def image(self, name, image, step):
        """An HxWx3 uint8 RGB picture."""

    def flush(self):
        """Write what is buffered (after every epoch)."""

    def close(self):
        """The end of training."""

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        """Continue from a checkpoint's `state_dict()`."""


class LoggerGroup(Logger):
    """Several loggers by name, each given every call."""

    def __init__(self, loggers):
        self.loggers = dict(loggers)

    def config(self, cfg):
        for logger in self.loggers.values():
            logger.config(cfg)

    def scalars(self, values, step, prefix=''):
        for logger in self.loggers.values():
            logger.scalars(values, step, prefix)

    def image(self, name, image, step):
        for logger in self.loggers.values():
            logger.image(name, image, step)

    def flush(self):
        for logger in self.loggers.values():
            logger.flush()

    def close(self):
        for logger in self.loggers.values():
            logger.close()

    def state_dict(self):
        states = {name: logger.state_dict() for name, logger in self.loggers.items()}
        return {name: state for name, state in states.items() if state}

    def load_state_dict(self, state):
        for name, logger in self.loggers.items():
            if name in state:
                logger.load_state_dict(state[name])
