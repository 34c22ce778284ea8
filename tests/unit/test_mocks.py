import asyncio
from unittest.mock import AsyncMock

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select, update
from sqlalchemy.exc import MultipleResultsFound

from async_test_harness import mappings_result, mock_session, result, scalars_result
from async_test_harness.plugin.mocks import BoundaryPatcher

users = Table("users", MetaData(), Column("id", Integer, primary_key=True), Column("name", String))


async def test_coroutine_methods_are_async_mocks_and_sync_ones_are_not():
    db = mock_session()
    for name in ("execute", "commit", "rollback", "flush", "refresh", "get", "scalar", "close"):
        assert isinstance(getattr(db, name), AsyncMock), name
    for name in ("add", "add_all", "expunge"):
        assert not isinstance(getattr(db, name), AsyncMock), name
    db.add(object())
    await db.commit()
    db.commit.assert_awaited_once()


def test_unknown_attributes_raise():
    db = mock_session()
    with pytest.raises(AttributeError):
        db.exectue  # noqa: B018 - a typo must not pass silently


def test_calls_are_checked_against_the_real_signature():
    with pytest.raises(TypeError):
        mock_session().add()  # add() needs an instance


async def test_begin_and_begin_nested_are_async_context_managers():
    db = mock_session()
    async with db.begin():
        await db.execute(select(users))
    db.commit.assert_awaited_once()
    with pytest.raises(RuntimeError):
        async with db.begin_nested():
            raise RuntimeError("boom")
    db.rollback.assert_awaited_once()


async def test_statements_are_recorded_as_postgresql_sql():
    db = mock_session()
    await db.execute(select(users.c.name).where(users.c.id == 5))
    await db.execute(update(users).where(users.c.id == 1).values(name="ann"))
    sql = db.executed_sql()
    assert "WHERE users.id = 5" in sql[0]
    assert sql[1].startswith("UPDATE users SET name='ann'")
    assert len(db.statements) == 2


async def test_return_value_and_side_effects_still_work():
    db = mock_session()
    db.execute.return_value = result([(1, "ann")], columns=["id", "name"])
    rows = (await db.execute(select(users))).all()
    assert rows[0].name == "ann"
    db.execute.side_effect = asyncio.CancelledError()
    with pytest.raises(asyncio.CancelledError):
        await db.execute(select(users))


def test_result_builders_behave_like_sqlalchemy_results():
    r = result([(1, "ann"), (2, "bob")], columns=["id", "name"])
    assert [row.name for row in r] == ["ann", "bob"]
    assert result([(1, "ann")], columns=["id", "name"]).mappings().one() == {"id": 1, "name": "ann"}
    assert scalars_result(["x", "y"]).scalars().all() == ["x", "y"]
    assert scalars_result([]).scalar_one_or_none() is None
    with pytest.raises(MultipleResultsFound):
        scalars_result([1, 2]).scalar_one()
    assert mappings_result([{"a": 1, "b": 2}]).mappings().first() == {"a": 1, "b": 2}


def test_result_rejects_ragged_rows():
    with pytest.raises(ValueError, match="needs 2 values"):
        result([(1, "ann"), (2,)], columns=["id", "name"])


class Greeter:
    async def greet(self, name: str) -> str:
        return f"hello {name}"

    def sync_part(self) -> int:
        return 1


async def test_patch_boundary_makes_async_methods_async_mocks_and_undoes_itself():
    patcher = BoundaryPatcher()
    instance = patcher(f"{__name__}.Greeter", greet="hi")
    assert isinstance(Greeter().greet, AsyncMock)
    assert await Greeter().greet("x") == "hi"
    assert Greeter() is instance
    with pytest.raises(TypeError):
        await Greeter().greet()  # autospec keeps the signature
    patcher.stop()
    assert await Greeter().greet("x") == "hello x"


def test_patch_boundary_names_what_it_cannot_find():
    with pytest.raises(AttributeError, match="where the code under test looks it up"):
        BoundaryPatcher()(f"{__name__}.Missing")
