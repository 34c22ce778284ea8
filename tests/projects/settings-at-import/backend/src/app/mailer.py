async def send_welcome(email: str) -> None:  # pragma: no cover - talks to a mail server
    raise RuntimeError("no mail server in tests")
