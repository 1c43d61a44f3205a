"""The nemesis: what goes wrong while the clients work, at random moments.

- ``kill_server``: a server process gets SIGKILL (requests in flight die with it) and is
  started again on its port a moment later;
- ``drop_connections``: every other connection to the database is terminated
  (``pg_terminate_backend``): the servers', the batch's, the harness's own;
- ``duplicate_callback``: a callback the bank already delivered is posted again, same event;
- ``resend_callback``: the bank reports a finished order again under a new event id;
- ``late_callback``: deposits paid through the delaying gateway have their bank report
  held back, then delivered late, in shuffled order, to any server;
- ``eod_run`` / ``eod_killed``: ``p2plend eod run`` processes catch up the closed dates
  while the clients work, two at once sharing the chunks, one of them killed half-way.
"""

import contextlib
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.exc import DBAPIError

from p2plend.bench.world import World
from p2plend.chaos.servers import Servers
from p2plend.custody.simulated.bank import BankOrderFinished, BankOrderNotFound
from p2plend.custody.simulated.models import BankCallback, BankOrder
from p2plend.db import transaction

CALLBACK_PATH = "/api/v1/custody/callbacks"
# When the batch starts, as shares of the run: two processes at once, one killed, one more.
EOD_STARTS = (0.03, 0.05, 0.30)
EOD_KILL = 0.08


@dataclass(frozen=True)
class HeldCallback:
    body: str
    signature: str


class Gateway:
    """Stands between the simulated bank and the platform for some deposits: the bank takes
    the payment and believes it reported it, but the report is held back — and delivered
    later, out of order, to whichever server, by ``deliver_late``."""

    def __init__(self, w: World, servers: Servers, rng: random.Random) -> None:
        self.w = w
        self.servers = servers
        self.rng = rng
        self.held: list[HeldCallback] = []
        self.results: Counter[str] = Counter()  # what the platform answered, by outcome
        self.lock = threading.Lock()
        self.client = httpx.Client(timeout=15)

    def pay_and_hold(self, order_no: str) -> bool:
        """The user pays at the bank; its report to the platform is held here."""
        try:
            self.w.bank.confirm_deposit_payment(order_no, deliver=False)
        except (BankOrderFinished, BankOrderNotFound):
            return False
        except DBAPIError:
            return self._paid(order_no)  # our connection was dropped: did the bank commit?
        self._hold(order_no)
        return True

    def deliver_late(self, count: int | None = None) -> int:
        """Deliver ``count`` held reports (all: None), in random order; the rest stay held."""
        with self.lock:
            self.rng.shuffle(self.held)
            taking = self.held if count is None else self.held[:count]
            self.held = [] if count is None else self.held[count:]
        undelivered = [c for c in taking if not self.post(c.body, c.signature)]
        with self.lock:
            self.held.extend(undelivered)
        return len(taking) - len(undelivered)

    def duplicate(self) -> bool:
        """Post again a callback the bank already delivered: same event id, same body."""
        with transaction(self.w.bank.session_factory) as session:
            count = session.scalar(select(func.count()).where(BankCallback.status == "delivered")) or 0
            if not count:
                return False
            row = session.execute(
                select(BankCallback.body, BankCallback.signature)
                .where(BankCallback.status == "delivered")
                .order_by(BankCallback.id)
                .offset(self.rng.randrange(count))
                .limit(1)
            ).one()
        return self.post(row.body, row.signature)

    def post(self, body: str, signature: str) -> bool:
        base = self.servers.pick(self.rng)
        try:
            response = self.client.post(
                base + CALLBACK_PATH, content=body.encode(), headers={"X-Custodian-Signature": signature}
            )
        except httpx.HTTPError:
            return False
        with self.lock:
            result = (
                response.json().get("result", "?")
                if response.status_code == 200
                else f"http_{response.status_code}"
            )
            self.results[str(result)] += 1
        return response.status_code == 200

    def close(self) -> None:
        self.client.close()

    def _hold(self, order_no: str) -> None:
        """Take the report off the bank's queue as if sent (a message lost on the way): no
        server's delivery run finds it. One may have beaten us to it: then it is on time, and
        ours is a duplicate when it comes."""
        with transaction(self.w.bank.session_factory) as session:
            rows = session.execute(
                update(BankCallback)
                .where(BankCallback.order_no == order_no)
                .values(status="delivered")
                .returning(BankCallback.body, BankCallback.signature)
            ).all()
        with self.lock:
            self.held.extend(HeldCallback(body, signature) for body, signature in rows)

    def _paid(self, order_no: str) -> bool:
        with transaction(self.w.bank.session_factory) as session:
            status = session.scalar(select(BankOrder.status).where(BankOrder.order_no == order_no))
        if status == "succeeded":
            self._hold(order_no)
        return status == "succeeded"


class Batch:
    """``p2plend eod run`` in processes of its own, as cron would start it."""

    def __init__(self, env: dict[str, str], logs: Path | None) -> None:
        self.env = env
        self.logs = logs
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-c", "from p2plend.cli import main; main()", "eod", "run"]
        if self.logs is None:
            process = subprocess.Popen(  # noqa: S603 — our own interpreter and command
                command, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        else:
            with (self.logs / f"eod-{len(self.processes)}.log").open("ab") as log:
                process = subprocess.Popen(  # noqa: S603 — our own interpreter and command
                    command, env=self.env, stdout=log, stderr=subprocess.STDOUT
                )
        self.processes.append(process)
        return process

    def kill_running(self) -> bool:
        running = [p for p in self.processes if p.poll() is None]
        if not running:
            return False
        running[0].kill()
        running[0].wait()
        return True

    def wait(self, timeout: float) -> int:
        """Wait for every process; kill those still running after ``timeout`` seconds and
        say how many there were."""
        deadline = time.monotonic() + timeout
        overran = 0
        for process in self.processes:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                overran += 1
        return overran

    def exits(self) -> list[int]:
        return [p.returncode for p in self.processes]


class Nemesis(threading.Thread):
    def __init__(
        self,
        w: World,
        servers: Servers,
        gateway: Gateway,
        batch: Batch,
        *,
        seconds: float,
        seed: int,
    ) -> None:
        super().__init__(name="chaos-nemesis", daemon=True)
        self.w = w
        self.servers = servers
        self.gateway = gateway
        self.batch = batch
        self.seconds = seconds
        self.rng = random.Random(seed)  # noqa: S311 — a reproducible schedule, not a secret
        self.faults: Counter[str] = Counter()
        self.stop = threading.Event()
        self._restarts: list[threading.Thread] = []
        self._admin = create_engine(w.url, isolation_level="AUTOCOMMIT")
        self.faults_by_kind: list[tuple[int, str, Callable[[], bool]]] = [
            (3, "kill_server", self.kill_server),
            (2, "drop_connections", self.drop_connections),
            (3, "duplicate_callback", self.gateway.duplicate),
            (2, "resend_callback", self.resend_callback),
            (2, "late_callback", self.late_callbacks),
        ]

    def run(self) -> None:
        began = time.monotonic()
        scheduled = sorted([(s, "eod_run") for s in EOD_STARTS] + [(EOD_KILL, "eod_killed")])
        while not self.stop.wait(self.rng.uniform(0.3, 1.5)):
            elapsed = (time.monotonic() - began) / self.seconds
            while scheduled and scheduled[0][0] <= elapsed:
                _, kind = scheduled.pop(0)
                if kind == "eod_run":
                    self.batch.start()
                    self.faults[kind] += 1
                elif self.batch.kill_running():
                    self.faults[kind] += 1
            [(_, kind, act)] = self.rng.choices(self.faults_by_kind, [w for w, _, _ in self.faults_by_kind])
            try:
                if act():
                    self.faults[kind] += 1
            except DBAPIError:
                pass  # the harness's own connection was one of those dropped

    def heal(self) -> list[int]:
        """Stop breaking things; every server up again. The servers that were not running
        though nobody was restarting them (they exited, or did not start again)."""
        self.stop.set()
        self.join()
        for thread in self._restarts:
            thread.join()
        missing = self.servers.missing()
        for index in missing:
            self.servers.restart(index)
        self._admin.dispose()
        return missing

    # --- the faults -------------------------------------------------------------------------

    def kill_server(self) -> bool:
        serving = self.servers.serving()
        if len(serving) < 2:
            return False  # one always serves: the run measures recovery, not a total outage
        index = self.rng.choice(serving)
        if not self.servers.kill(index):
            return False
        delay = self.rng.uniform(0.5, 2.0)
        restart = threading.Thread(target=self._restart_later, args=(index, delay), daemon=True)
        restart.start()
        self._restarts.append(restart)
        return True

    def _restart_later(self, index: int, delay: float) -> None:
        time.sleep(delay)
        with contextlib.suppress(RuntimeError):  # it did not come up: ``heal`` reports it missing
            self.servers.restart(index)

    def drop_connections(self) -> bool:
        with self._admin.connect() as conn:
            dropped = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar()
        return bool(dropped)

    def resend_callback(self) -> bool:
        with transaction(self.w.bank.session_factory) as session:
            finished = session.scalars(
                select(BankOrder.order_no)
                .where(BankOrder.kind.in_(("deposit", "withdrawal")), BankOrder.status != "pending")
                .order_by(BankOrder.id.desc())
                .limit(50)
            ).all()
        if not finished:
            return False
        self.w.bank.resend_callback(self.rng.choice(finished))
        return True

    def late_callbacks(self) -> bool:
        delivered = self.gateway.deliver_late(self.rng.randint(1, 3))
        self.faults["late_callback"] += max(0, delivered - 1)  # the caller counts one
        return delivered > 0
