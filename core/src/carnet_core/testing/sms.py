"""A stand-in SMS provider for tests (`carnet_core.testing.SmsGateway`): install it with
`inline_plugins.add("smsgateway", SmsGateway())` and Carnet counts SMS as configured (core's
`sms_transport`, `sms_ready`); it declines each message (None), which core then writes to the SMS
folder under its idempotency key, where the test reads it. Never a real provider."""

from __future__ import annotations

from typing import Any

from carnet_core.plugin_api import hookimpl


class SmsGateway:
    CARNET_CORE_REQUIRES = ">=0.1,<1"

    @hookimpl
    def send_sms(self, to: str, body: str, settings: Any) -> None:
        return None
