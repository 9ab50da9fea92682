"""engagement's routes for SLA policies, routing rules and the routing dry run."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from services.engagement.errors import SlaPolicyNotFound
from services.engagement.logic import rules, sla
from services.engagement.models import Priority
from services.engagement.sla_schemas import (
    DryRunResult,
    RoutingRuleCreate,
    RoutingRuleList,
    RoutingRuleRead,
    RoutingRuleUpdate,
    SamplePost,
    SlaPolicyList,
    SlaPolicyRead,
    SlaPolicyWrite,
)
from shared.auth import ADMINS, STAFF, Principal, require_roles
from shared.openapi import problems
from shared.service import SessionDep

sla_router = APIRouter(prefix="/v1/sla-policies", tags=["sla"])
routing_router = APIRouter(prefix="/v1/routing", tags=["routing"])

StaffDep = Annotated[Principal, Depends(require_roles(*STAFF))]
AdminDep = Annotated[Principal, Depends(require_roles(*ADMINS))]
PriorityPath = Annotated[Priority, Path()]
RuleId = Annotated[str, Path(min_length=1, max_length=64)]


@sla_router.get(
    "", response_model=SlaPolicyList, operation_id="list_sla_policies", summary="List SLA policies"
)
async def list_sla_policies(principal: StaffDep, session: SessionDep) -> SlaPolicyList:
    """The tenant's SLA policies, one per priority at most, most urgent first."""
    policies = await sla.list_policies(session, tenant_id=principal.tenant_id)
    return SlaPolicyList.model_validate({"items": policies}, from_attributes=True)


@sla_router.get(
    "/{priority}",
    response_model=SlaPolicyRead,
    operation_id="get_sla_policy",
    summary="Get the SLA policy of a priority",
    responses=problems(404),
)
async def get_sla_policy(principal: StaffDep, session: SessionDep, priority: PriorityPath) -> SlaPolicyRead:
    """The tenant's SLA policy for one priority."""
    policy = await sla.get_policy(session, tenant_id=principal.tenant_id, priority=priority)
    if policy is None:
        raise SlaPolicyNotFound(f"No SLA policy for priority {priority!r}.")
    return SlaPolicyRead.model_validate(policy, from_attributes=True)


@sla_router.put(
    "/{priority}",
    response_model=SlaPolicyRead,
    operation_id="update_sla_policy",
    summary="Set the SLA policy of a priority",
    responses=problems(422),
)
async def put_sla_policy(
    policy_in: SlaPolicyWrite,
    principal: AdminDep,
    session: SessionDep,
    priority: PriorityPath,
    response: Response,
) -> SlaPolicyRead:
    """Create or replace the targets of one priority (conversations opened or re-prioritised later use it)."""
    policy, created = await sla.put_policy(
        session,
        tenant_id=principal.tenant_id,
        priority=priority,
        first_response_s=policy_in.first_response_s,
        resolution_s=policy_in.resolution_s,
        business_hours=policy_in.business_hours,
    )
    response.status_code = 201 if created else 200
    return SlaPolicyRead.model_validate(policy, from_attributes=True)


@sla_router.delete(
    "/{priority}",
    status_code=204,
    operation_id="delete_sla_policy",
    summary="Remove the SLA policy of a priority",
    responses=problems(404),
)
async def delete_sla_policy(principal: AdminDep, session: SessionDep, priority: PriorityPath) -> None:
    """Remove one priority's targets."""
    await sla.delete_policy(session, tenant_id=principal.tenant_id, priority=priority)


@routing_router.get(
    "/rules", response_model=RoutingRuleList, operation_id="list_routing_rules", summary="List routing rules"
)
async def list_routing_rules(principal: StaffDep, session: SessionDep) -> RoutingRuleList:
    """The tenant's routing rules in the order they are tried."""
    return RoutingRuleList(items=await rules.list_rules(session, tenant_id=principal.tenant_id))


@routing_router.post(
    "/rules",
    status_code=201,
    response_model=RoutingRuleRead,
    operation_id="create_routing_rule",
    summary="Add a routing rule",
    responses=problems(422),
)
async def create_routing_rule(
    rule_in: RoutingRuleCreate, principal: AdminDep, session: SessionDep
) -> RoutingRuleRead:
    """Add a routing rule (at the end unless `position` is given)."""
    return await rules.create_rule(session, tenant_id=principal.tenant_id, rule_in=rule_in)


@routing_router.get(
    "/rules/{rule_id}",
    response_model=RoutingRuleRead,
    operation_id="get_routing_rule",
    summary="Get a routing rule",
    responses=problems(404),
)
async def get_routing_rule(principal: StaffDep, session: SessionDep, rule_id: RuleId) -> RoutingRuleRead:
    """One routing rule."""
    return await rules.get_rule(session, tenant_id=principal.tenant_id, rule_id=rule_id)


@routing_router.patch(
    "/rules/{rule_id}",
    response_model=RoutingRuleRead,
    operation_id="update_routing_rule",
    summary="Update a routing rule",
    responses=problems(404, 422),
)
async def update_routing_rule(
    rule_in: RoutingRuleUpdate, principal: AdminDep, session: SessionDep, rule_id: RuleId
) -> RoutingRuleRead:
    """Change a rule's name, position, enabled flag, conditions or actions."""
    return await rules.update_rule(session, tenant_id=principal.tenant_id, rule_id=rule_id, rule_in=rule_in)


@routing_router.delete(
    "/rules/{rule_id}",
    status_code=204,
    operation_id="delete_routing_rule",
    summary="Remove a routing rule",
    responses=problems(404),
)
async def delete_routing_rule(principal: AdminDep, session: SessionDep, rule_id: RuleId) -> None:
    """Remove a routing rule."""
    await rules.delete_rule(session, tenant_id=principal.tenant_id, rule_id=rule_id)


@routing_router.post(
    "/dry-run",
    response_model=DryRunResult,
    operation_id="create_routing_dry_run",
    summary="Try the routing rules on a sample post",
    responses=problems(422),
)
async def routing_dry_run(post: SamplePost, principal: StaffDep, session: SessionDep) -> DryRunResult:
    """Which rule a sample post would hit and why (each rule's conditions), or the default decision."""
    return await rules.dry_run(session, tenant_id=principal.tenant_id, post=post)
