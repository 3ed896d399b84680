"""Transfers between networks: propose, the incoming list, preview, accept, decline,
withdraw; the national list (services.transfers)."""

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from litestar import get, post
from litestar.params import JSONBody
from msgspec import Meta, Struct

from referral.services import transfers
from referral.web.api.models import Body, CreatedOut, Line, PathId, Text, errors
from referral.web.deps import CurrentActor, Uow

TAGS = ["transfers"]


class TransferIn(Body):
    to_network: Annotated[str, Meta(max_length=64, description="The receiving network's slug")]
    reason: Text


class DeclineIn(Body):
    reason: Line


class IncomingOut(Struct):
    id: int
    from_network: str
    state: str
    proposed_at: datetime
    expires_at: datetime


class PreviewOut(Struct):
    """What would move, by category: (field, value) pairs; and what stays behind, why."""

    proposal_id: int
    from_network: str
    state: str
    continues_at: str
    proposed_at: datetime
    expires_at: datetime
    reason: str
    fields: dict[str, list[tuple[str, Any]]]
    withheld: dict[str, str]


class AcceptedOut(Struct):
    proposal_id: int
    case_id: int
    state: str
    moved: list[str]


class TransferRowOut(Struct):
    from_network: str
    to_network: str
    status: str
    state: str
    proposed_at: datetime
    decided_at: datetime | None


@post(
    "/api/cases/{case_id:int}/transfers",
    tags=TAGS,
    summary="Propose handing the case over to another city network",
    sync_to_thread=True,
    responses=errors(403, 404, 409, 413, 415, 422),
)
def propose(
    uow: Uow, actor: CurrentActor, case_id: PathId, data: JSONBody[TransferIn]
) -> CreatedOut:
    """Coordinator. 422 for a training, national or own network; 404 for an unknown one;
    409 when the case already has an open proposal, or its state offers no handover."""
    command = transfers.ProposeTransfer(case_id, data.to_network, data.reason)
    return CreatedOut(transfers.propose_transfer(uow, actor, command))


@get("/api/transfers", tags=TAGS, summary="Open proposals to your network",
     sync_to_thread=True, responses=errors(403))  # fmt: skip
def incoming(uow: Uow, actor: CurrentActor) -> list[IncomingOut]:
    return [IncomingOut(**asdict(i)) for i in transfers.incoming_transfers(uow, actor)]


@get("/api/transfers/national", tags=TAGS, summary="Every transfer, at status level",
     sync_to_thread=True, responses=errors(403, 404))  # fmt: skip
def national(uow: Uow, actor: CurrentActor) -> list[TransferRowOut]:
    """National coordinator: network names, states and dates; never a case's content."""
    return [TransferRowOut(**asdict(r)) for r in transfers.national_transfers(uow, actor)]


@get("/api/transfers/{proposal_id:int}", tags=TAGS, summary="Preview what would move",
     sync_to_thread=True, responses=errors(403, 404, 409))  # fmt: skip
def preview(uow: Uow, actor: CurrentActor, proposal_id: PathId) -> PreviewOut:
    """A disclosure, recorded in both networks' audit logs."""
    return PreviewOut(**asdict(transfers.preview_transfer(uow, actor, proposal_id)))


@post("/api/transfers/{proposal_id:int}/accept", tags=TAGS, summary="Accept the transfer",
      status_code=200, sync_to_thread=True, responses=errors(403, 404, 409))  # fmt: skip
def accept(uow: Uow, actor: CurrentActor, proposal_id: PathId) -> AcceptedOut:
    accepted = transfers.accept_transfer(uow, actor, transfers.DecideTransfer(proposal_id))
    return AcceptedOut(accepted.proposal_id, accepted.case_id, accepted.state,
                       list(accepted.moved))  # fmt: skip


@post("/api/transfers/{proposal_id:int}/decline", tags=TAGS, summary="Decline the transfer",
      status_code=204, sync_to_thread=True,
      responses=errors(403, 404, 409, 413, 415, 422))  # fmt: skip
def decline(uow: Uow, actor: CurrentActor, proposal_id: PathId, data: JSONBody[DeclineIn]) -> None:
    transfers.decline_transfer(uow, actor, transfers.DecideTransfer(proposal_id, data.reason))


@post("/api/transfers/{proposal_id:int}/withdraw", tags=TAGS,
      summary="Withdraw your network's proposal", status_code=204, sync_to_thread=True,
      responses=errors(403, 404, 409))  # fmt: skip
def withdraw(uow: Uow, actor: CurrentActor, proposal_id: PathId) -> None:
    transfers.withdraw_transfer(uow, actor, transfers.DecideTransfer(proposal_id))


ROUTES: list[Any] = [propose, incoming, national, preview, accept, decline, withdraw]
