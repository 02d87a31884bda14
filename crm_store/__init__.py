"""The CRM store: customers and their phones, agents, and the log of every contact.

Plain synchronous SQLAlchemy (SQLite by default, PostgreSQL in production); no
Twisted, no HTTP. The server runs these calls in a thread pool::

    store = Store(make_engine("sqlite:///var/crm.db"))
    store.create_schema()
    seed_demo(store)
    store.lookup_caller("+1 (555) 123-4567").customers[0].name   # 'Ada Lovelace'
"""

from .phones import normalize
from .records import (
    AgentRecord,
    CallbackRecord,
    CallerLookup,
    ContactRecord,
    ContactSummary,
    CustomerCard,
    PinCheck,
    SeedResult,
)
from .seed import DEMO_CUSTOMER, seed_demo
from .store import (
    AgentExists,
    AgentNotFound,
    ContactNotFound,
    CustomerNotFound,
    NotContactAgent,
    Store,
    make_engine,
    normalize_skills,
)

__all__ = [
    "DEMO_CUSTOMER",
    "AgentExists",
    "AgentNotFound",
    "AgentRecord",
    "CallbackRecord",
    "CallerLookup",
    "ContactNotFound",
    "ContactRecord",
    "ContactSummary",
    "CustomerCard",
    "CustomerNotFound",
    "NotContactAgent",
    "PinCheck",
    "SeedResult",
    "Store",
    "make_engine",
    "normalize",
    "normalize_skills",
    "seed_demo",
]
