"""Identity test fixtures: the SMS messages the notification port was asked to send."""

from dataclasses import dataclass, field
from typing import Any

import pytest

from p2plend.notifications import service as notifications


@dataclass
class SentSms:
    messages: list[dict[str, Any]] = field(default_factory=list)

    def last_code(self) -> str:
        code: str = self.messages[-1]["params"]["code"]
        return code


@pytest.fixture
def sent_sms(monkeypatch: pytest.MonkeyPatch) -> SentSms:
    """Record every SMS the identity domain sends, and still hand it to the real port."""
    sent = SentSms()
    real_send = notifications.send_sms

    def recording_send(session: Any, **kwargs: Any) -> Any:
        sent.messages.append(kwargs)
        return real_send(session, **kwargs)

    monkeypatch.setattr(notifications, "send_sms", recording_send)
    return sent
