from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from .db import get_session
from .services.auth import AuthError, AuthService
from .services.users import UserService

app = FastAPI()


class Credentials(BaseModel):
    email: str
    password: str


@app.post("/users", status_code=201)
async def register(body: Credentials, db: AsyncSession = Depends(get_session)) -> dict:
    user = await UserService(db).create(body.email, body.password)
    return {"id": user.id, "email": user.email}


@app.post("/login")
async def login(body: Credentials, db: AsyncSession = Depends(get_session)) -> dict:
    try:
        user_id = await AuthService(db).login(body.email, body.password)
    except AuthError as exc:
        raise HTTPException(status_code=401, detail=str(exc)) from None
    return {"user_id": user_id}
