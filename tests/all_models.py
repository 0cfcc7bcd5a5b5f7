"""Every model module of every layer, so that Base.metadata describes the whole control DB
(for comparing the migrations with the models, and for generating new migrations)."""

import grants.models  # noqa: F401
import products.models  # noqa: F401
import sandbox.db.models  # noqa: F401
from sandbox.db.base import Base

METADATA = Base.metadata
