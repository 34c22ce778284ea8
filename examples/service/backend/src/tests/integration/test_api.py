"""The FastAPI app in-process, its session dependency replaced by the isolated test session."""

from sqlalchemy import func, select

from myservice.models import LoginLog


async def test_register_then_login(api_client, async_db_session):
    created = await api_client.post("/users", json={"email": "dan@example.com", "password": "pw"})
    assert created.status_code == 201

    ok = await api_client.post("/login", json={"email": "dan@example.com", "password": "pw"})
    assert ok.status_code == 200
    assert await async_db_session.scalar(select(func.count()).select_from(LoginLog)) == 1


async def test_login_with_wrong_password_is_401(api_client):
    await api_client.post("/users", json={"email": "eve@example.com", "password": "pw"})
    response = await api_client.post("/login", json={"email": "eve@example.com", "password": "nope"})
    assert response.status_code == 401
