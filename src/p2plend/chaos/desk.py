"""The operations desk: a staff member disbursing funded listings (满标复审 → 放款) over
HTTP as they fill, and publishing new listings when few are left open. It also keeps the
clients' view of the market (open listings, open transfer listings) fresh, read from the
database as any page would show it.
"""

import random
import threading
import time
from decimal import Decimal

from sqlalchemy.exc import DBAPIError

from p2plend.bench.world import World, open_listing
from p2plend.chaos.clients import Deadlines, Http, Market, Op
from p2plend.chaos.scene import LISTING, MIN_BID, Scene
from p2plend.chaos.servers import Servers
from p2plend.db import transaction
from p2plend.marketplace import service as marketplace
from p2plend.transfers import service as transfers

OPEN_LISTINGS = 4  # keep at least this many listings open for bids
PAUSE = 0.5  # seconds between rounds


class Desk(threading.Thread):
    def __init__(
        self,
        w: World,
        *,
        scene: Scene,
        servers: Servers,
        token: str,
        market: Market,
        deadlines: Deadlines,
        seed: int,
    ) -> None:
        super().__init__(name="chaos-desk", daemon=True)
        self.w = w
        self.scene = scene
        self.token = token
        self.market = market
        self.deadlines = deadlines
        self.http = Http(servers, random.Random(seed), deadlines)  # noqa: S311 — not a secret
        self.ops: list[Op] = []

    def run(self) -> None:
        while self.deadlines.starting():
            self.round()
            time.sleep(PAUSE)

    def finish(self, give_up: float) -> None:
        """After the run: what filled last is disbursed (trying until ``give_up``)."""
        self.deadlines = self.http.deadlines = Deadlines(stop_new=time.monotonic(), give_up=give_up)
        self.round()
        self.http.close()

    def round(self) -> None:
        try:
            funded = self._refresh()
        except DBAPIError:
            return  # our connection was one of those dropped: next round
        for loan_id in funded:
            self.disburse(loan_id)

    def disburse(self, loan_id: int) -> None:
        op = Op("disbursement", self.scene.staff.user_id)
        self.ops.append(op)
        body = self.http.send(op, f"/api/v1/staff/loans/{loan_id}/disburse", token=self.token)
        if body is not None:
            op.effect = str(loan_id)

    def _refresh(self) -> list[int]:
        """Publish listings while fewer than ``OPEN_LISTINGS`` are open; the market as it is
        now; the funded listings waiting for disbursement."""
        with transaction(self.w.factory) as session:
            listings = marketplace.loans(session, statuses=[marketplace.OPEN], limit=100)
            funded = [
                loan.id for loan in marketplace.loans(session, statuses=[marketplace.FUNDED], limit=100)
            ]
            offers = [
                (t.id, t.seller_id, t.principal - t.sold) for t in transfers.open_listings(session, limit=100)
            ]
        opened = [
            open_listing(
                self.w, self.scene.listing_borrower, amount=LISTING, min_bid=MIN_BID, max_share=Decimal("0.5")
            )
            for _ in range(OPEN_LISTINGS - len(listings))
        ]
        with self.market.lock:
            self.market.listings = [loan.id for loan in listings] + opened
            self.market.transfers = offers
        return funded
