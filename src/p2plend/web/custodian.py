"""The custodian bank the pages talk to: the one the composition root wired into the app."""

from fastapi import Request

from p2plend.api.deps import get_custodian
from p2plend.custody.port import Custodian
from p2plend.custody.simulated.bank import SimulatedBank


def custodian_of(request: Request) -> Custodian:
    return get_custodian(request)


def simulated_bank_of(request: Request) -> SimulatedBank | None:
    """The simulated bank, when that is the custodian outside production (its pages exist only then)."""
    custodian = custodian_of(request)
    if request.app.state.settings.environment == "production":
        return None
    return custodian if isinstance(custodian, SimulatedBank) else None
