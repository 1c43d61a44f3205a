"""The simulated custodian bank's own small HTTP surface (demo and tests; never in production).

It stands for the bank's pages and back office: confirming or failing a payment, paying
out or failing a withdrawal, re-delivering callbacks.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from p2plend.api.deps import get_custodian
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.errors import NotFound

router = APIRouter(prefix="/sim-bank", tags=["simulated bank"])


def simulated_bank(request: Request) -> SimulatedBank:
    custodian = get_custodian(request)
    if not isinstance(custodian, SimulatedBank) or request.app.state.settings.environment == "production":
        raise NotFound("The simulated bank is not available here.")
    return custodian


Bank = Annotated[SimulatedBank, Depends(simulated_bank)]


@router.post("/deposits/{order_no}/confirm", summary="The user pays the deposit on the bank's page")
def confirm_deposit(order_no: str, bank: Bank) -> dict[str, str]:
    bank.confirm_deposit_payment(order_no)
    return {"order_no": order_no, "status": "succeeded"}


@router.post("/deposits/{order_no}/fail", summary="The payment is declined")
def fail_deposit(order_no: str, bank: Bank) -> dict[str, str]:
    bank.fail_deposit_payment(order_no)
    return {"order_no": order_no, "status": "failed"}


@router.post("/withdrawals/{order_no}/pay-out", summary="The bank pays a held-back withdrawal out")
def pay_out_withdrawal(order_no: str, bank: Bank) -> dict[str, str]:
    bank.pay_out_withdrawal(order_no)
    return {"order_no": order_no, "status": "succeeded"}


@router.post("/withdrawals/{order_no}/fail", summary="The payout to the card fails")
def fail_withdrawal(order_no: str, bank: Bank) -> dict[str, str]:
    bank.fail_withdrawal(order_no)
    return {"order_no": order_no, "status": "failed"}


@router.post("/callbacks/deliver", summary="Deliver every pending callback now")
def deliver_callbacks(bank: Bank) -> dict[str, int]:
    return {"delivered": bank.deliver_pending()}
