from __future__ import annotations

from collections.abc import Iterator

import pytest

from grants.demo import seed_governance
from products.demo import register_authorizations
from products.models import Product
from sandbox.clock import utcnow
from tests.conftest import World
from tests.unit.products.helpers import Env, listed, subscribed


@pytest.fixture
def env(world: World) -> Iterator[Env]:
    """The demo's governance on the small test world (150 enterprises), in one session."""
    now = utcnow()
    with world.factory() as session:
        g = seed_governance(session, now=now)
        session.commit()
        yield Env(world, session, g, now)


@pytest.fixture
def ready(env: Env) -> Product:
    """A listed credit check, bank-a subscribed, the demo's authorizations registered."""
    product = listed(env)
    subscribed(env, product)
    register_authorizations(env.session, now=env.now, enterprises=150)
    return product
