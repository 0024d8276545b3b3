"""Find classes by name: one module per class, named after the class (packnet-sfm style)."""
import importlib
import inspect
import pkgutil

from packnet_sfm.utils.errors import InputError


def available_classes(package):
    """Names of the modules (hence classes) in a package, e.g. every depth network."""
    module = importlib.import_module(package)
    return sorted(m.name for m in pkgutil.iter_modules(module.__path__) if m.name[0].isupper())


def load_class(name, package, key):
    """Return class `name` from module `package.name`, or an error naming the config `key`
    that asked for it and the known classes."""
    if name not in available_classes(package):
        raise InputError(f"Unknown class '{name}' in {key}; known: "
                         f"{', '.join(available_classes(package))}")
    return getattr(importlib.import_module(f"{package}.{name}"), name)


def accepted_kwargs(cls, candidates):
    """The subset of `candidates` that the constructor of `cls` names as parameters."""
    params = inspect.signature(cls.__init__).parameters
    return {k: v for k, v in candidates.items() if k in params}
