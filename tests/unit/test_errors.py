import pytest

from drop.domain.errors import Conflict, DomainError, Forbidden, Gone, NotFound, ValidationFailed


@pytest.mark.parametrize(
    ("cls", "status"),
    [(ValidationFailed, 400), (Forbidden, 403), (NotFound, 404), (Conflict, 409), (Gone, 410)],
)
def test_subclasses_carry_their_status(cls: type[DomainError], status: int) -> None:
    err = cls("some_code", "something went wrong")
    assert isinstance(err, DomainError)
    assert (err.code, err.status, err.message) == ("some_code", status, "something went wrong")
    assert str(err) == "something went wrong"


def test_base_error_accepts_an_explicit_status() -> None:
    err = DomainError("teapot", "short and stout", status=418)
    assert err.status == 418
    assert "teapot" in repr(err)
