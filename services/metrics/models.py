"""metrics' table: one counter per tenant, UTC day and metric name."""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel

METRIC_MAX = 120


class Counter(SQLModel, table=True):
    """How many times `metric` happened in the tenant on the UTC day `bucket`."""

    __tablename__ = "counter"

    # The primary key leads with tenant_id, so it is also the tenant index.
    tenant_id: str = Field(primary_key=True, max_length=64)
    bucket: date = Field(primary_key=True)
    metric: str = Field(primary_key=True, max_length=METRIC_MAX)
    value: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
