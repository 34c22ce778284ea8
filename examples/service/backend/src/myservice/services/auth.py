from typing import Any, Optional

from ..security import verify_password
from .users import LoginLogService, UserService


class AuthError(Exception):
    pass


class AuthService:
    def __init__(self, db: Any) -> None:
        self.db = db

    async def login(self, email: str, password: str, request: Optional[Any] = None) -> int:
        user = await UserService(self.db).get_by_email(email)
        if user is None or not user.is_active:
            raise AuthError("unknown or inactive user")
        if not verify_password(password, user.password_hash):
            raise AuthError("wrong password")
        await LoginLogService(self.db).record(user.id)
        return user.id
