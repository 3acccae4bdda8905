"""Joining a Ray cluster: ``auto`` or an address connects, nothing starts a local instance.

Ray is an optional extra (``pip install -e ".[ray]"``); :func:`ray_module` imports it through
:func:`ammcnet.utils.optional.require`, so a missing install is one line naming the extra.
"""

from __future__ import annotations

from types import ModuleType

from ammcnet.utils.optional import require

#: What ``--ray`` without an address means: start a Ray instance on this machine.
LOCAL = ""


def ray_module(purpose: str = "--ray") -> ModuleType:
    """The ``ray`` module, or a :class:`~ammcnet.utils.optional.MissingDependencyError` naming the extra."""
    return require("ray", extra="ray", purpose=purpose)


def connect(address: str | None = LOCAL, *, num_cpus: int | None = None, purpose: str = "--ray") -> ModuleType:
    """Make sure this process is connected to Ray and return the module.

    Args:
        address: ``""`` or None: start a local instance (or reuse the one this process already
            started); ``"auto"``: join the cluster this machine belongs to (``ray start``);
            ``"ray://host:10001"`` or ``"host:6379"``: join that cluster.
        num_cpus: CPUs a *local* instance offers (default: all of this machine's).
        purpose: what needs Ray, for the install hint.
    """
    ray = ray_module(purpose)
    if ray.is_initialized():
        return ray
    if address:
        ray.init(address=address, include_dashboard=False)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False)
    return ray


def cluster_cpus(ray: ModuleType) -> int:
    """CPUs the connected cluster has in all (at least 1)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))
