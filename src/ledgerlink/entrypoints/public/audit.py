"""The audit log, checked by anyone.

The `/audit/*` JSON endpoints let anyone verify the log (RFC 9162 proofs against
Ed25519-signed tree heads, keys at `/.well-known/jwks.json`); entry data is shown only to the
person it is about, everyone else gets leaf hashes. Errors are RFC 9457 problems (see
problems.py). The person's own page, "Who accessed my data", is `web/privacy.py`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field

from ledgerlink.domain.audit import AuditEntry, TreeHead
from ledgerlink.domain.errors import NotFound
from ledgerlink.entrypoints.dependencies import get_deps, signed_in
from ledgerlink.entrypoints.problems import PROBLEM_SCHEMA
from ledgerlink.services.privacy import audit, checkpoints
from ledgerlink.services.privacy.audit import MAX_LEAVES_PER_PAGE
from ledgerlink.services.privacy.checkpoints import MAX_CHECKPOINTS_PER_PAGE

__all__ = ["router"]

router = APIRouter()
_PROBLEMS: dict[int | str, dict[str, Any]] = {404: PROBLEM_SCHEMA, 409: PROBLEM_SCHEMA, 422: PROBLEM_SCHEMA}
# Indexes and sizes fit a 64-bit database integer, with room for `start + 1000`: a larger one is
# a 422, not an overflow in the driver (a 500 schemathesis found, issue 14).
_MAX = 2**62


# --------------------------------------------------------------------------- JSON for verifiers


class TreeHeadOut(BaseModel):
    format: str = Field(description="the signed-bytes format, see docs/privacy.md")
    tree_size: int
    root_hash: str = Field(description="hex SHA-256 Merkle tree hash (RFC 9162 section 2.1.1)")
    timestamp: str = Field(description="ISO 8601 UTC with milliseconds, as signed")
    key_id: str = Field(description="the `kid` of the Ed25519 key in /.well-known/jwks.json")
    signature: str = Field(description="base64 Ed25519 signature over the canonical head")
    checkpoint: str | None = Field(
        default=None, description="the same head as a C2SP tlog-checkpoint signed note (ADR 0020)"
    )


class InclusionOut(BaseModel):
    index: int
    tree_size: int
    leaf_hash: str
    audit_path: list[str] = Field(description="hex hashes, RFC 9162 section 2.1.3.1 order")
    root_hash: str


class ConsistencyOut(BaseModel):
    first: int
    second: int
    first_root: str
    second_root: str
    consistency_path: list[str] = Field(description="hex hashes, RFC 9162 section 2.1.4.1 order")


class LeafOut(BaseModel):
    index: int
    leaf_hash: str
    entry: dict[str, Any] | None = Field(
        description="the entry's fields (leaf data is their sorted-key compact JSON); only yours"
    )


class LeavesOut(BaseModel):
    start: int
    end: int
    leaves: list[LeafOut]


def _head_out(head: TreeHead) -> TreeHeadOut:
    return TreeHeadOut.model_validate(head.as_dict())


_TEXT = "text/plain; charset=utf-8"
_TEXT_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {_TEXT: {"schema": {"type": "string"}}}, "description": "a C2SP checkpoint"},
}


def _wants_text(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/plain" in accept and "application/json" not in accept


@router.get(
    "/audit/tree-head", tags=["verification"], response_model=TreeHeadOut,
    responses={**_PROBLEMS, **_TEXT_RESPONSE},
)  # fmt: skip
async def tree_head(request: Request) -> Any:
    """The latest signed tree head of the audit log. Save it: later, ask for a consistency proof
    from its size to a newer head to check that nothing before it was changed. With
    `Accept: text/plain`, the latest checkpoint (C2SP tlog-checkpoint) instead."""
    deps = get_deps(request)
    if _wants_text(request):
        return await checkpoint(request)
    head = await audit.latest_tree_head(deps)
    if head is None:
        raise NotFound("no tree head has been signed yet", code="no_tree_head")
    out = _head_out(head)
    latest = await checkpoints.latest_checkpoint(deps.signer, deps.checkpoints)
    if latest is not None and latest.tree_size == head.tree_size:
        out.checkpoint = latest.note()
    return out


@router.get(
    "/audit/checkpoint", tags=["verification"], response_class=PlainTextResponse,
    responses={**_PROBLEMS, **_TEXT_RESPONSE},
)  # fmt: skip
async def checkpoint(request: Request) -> Response:
    """The latest checkpoint: the latest signed head as a C2SP tlog-checkpoint signed note
    (origin, tree size, base64 root; an Ed25519 note signature). Verify it with the keys at
    `/audit/checkpoint/keys` and any signed-note tool."""
    deps = get_deps(request)
    latest = await checkpoints.latest_checkpoint(deps.signer, deps.checkpoints)
    if latest is None:
        raise NotFound("no checkpoint has been written yet", code="no_tree_head")
    return PlainTextResponse(latest.note(), media_type=_TEXT)


@router.get(
    "/audit/checkpoint/keys", tags=["verification"], response_class=PlainTextResponse,
    responses={**_PROBLEMS, 200: {"content": {_TEXT: {"schema": {"type": "string"}}}}},
)  # fmt: skip
async def checkpoint_keys(request: Request) -> Response:
    """The checkpoints' verifier keys, one a line, in the `sumdb/note` form
    `<origin>+<key id>+<base64 key>` (old keys too: old checkpoints still verify)."""
    deps = get_deps(request)
    if deps.checkpoints is None:
        raise NotFound("this platform keeps no checkpoints", code="no_tree_head")
    keys = await checkpoints.log_verifier_keys(deps.signer, deps.checkpoints)
    return PlainTextResponse("".join(f"{key}\n" for key in keys), media_type=_TEXT)


class CheckpointOut(BaseModel):
    tree_size: int
    root_hash: str = Field(description="hex, as in the other /audit answers")
    checkpoint: str = Field(description="the C2SP tlog-checkpoint signed note, as written")


class HistoryOut(BaseModel):
    checkpoints: list[CheckpointOut]
    next: str | None = Field(description="the next page, or null at the end")


_HISTORY_TYPES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}, _TEXT: {"schema": {"type": "string"}}}},
}


@router.get(
    "/audit/tree-head/history", tags=["verification"], response_model=HistoryOut,
    responses={**_PROBLEMS, **_HISTORY_TYPES},
)
async def tree_head_history(
    request: Request,
    after: Annotated[int, Query(ge=-1, le=_MAX, description="only tree sizes above this one")] = -1,
    limit: Annotated[int, Query(ge=1, le=MAX_CHECKPOINTS_PER_PAGE)] = 100,
) -> Any:
    """Every signed tree head as written to the checkpoint file, smallest tree first, paged by
    tree size: keep them all, and a rollback or rewrite of the log cannot go unnoticed. With
    `Accept: text/plain`, the checkpoints themselves, each followed by an empty line (the
    format of the checkpoint file, which `ledgerlink audit verify --checkpoints` reads)."""
    page = await checkpoints.history(get_deps(request).checkpoints, after=after, limit=limit)
    following = None
    if page.next_after is not None:
        following = f"/audit/tree-head/history?after={page.next_after}&limit={limit}"
    headers = {} if following is None else {"link": f'<{following}>; rel="next"'}
    if _wants_text(request):
        body = "".join(c.note() + "\n" for c in page.checkpoints)
        return PlainTextResponse(body, media_type=_TEXT, headers=headers)
    out = HistoryOut(
        checkpoints=[
            CheckpointOut(tree_size=c.tree_size, root_hash=c.root_hash.hex(), checkpoint=c.note())
            for c in page.checkpoints
        ],
        next=following,
    )
    return Response(out.model_dump_json(), media_type="application/json", headers=headers)


@router.get("/audit/proof/inclusion", tags=["verification"], responses=_PROBLEMS)
async def proof_inclusion(
    request: Request,
    index: Annotated[int, Query(ge=0, le=_MAX, description="0-based leaf index")],
    tree_size: Annotated[
        int | None, Query(ge=1, le=_MAX, description="default: the latest signed head")
    ] = None,
) -> InclusionOut:
    """RFC 9162 inclusion proof of one entry in the tree of `tree_size` entries."""
    proof = await audit.inclusion_proof(get_deps(request), index, tree_size)
    return InclusionOut(
        index=proof.index,
        tree_size=proof.tree_size,
        leaf_hash=proof.leaf_hash.hex(),
        audit_path=[p.hex() for p in proof.path],
        root_hash=proof.root_hash.hex(),
    )


@router.get("/audit/proof/consistency", tags=["verification"], responses=_PROBLEMS)
async def proof_consistency(
    request: Request,
    first: Annotated[int, Query(ge=1, le=_MAX, description="size of the older tree")],
    second: Annotated[int | None, Query(ge=1, le=_MAX, description="default: the latest signed head")] = None,
) -> ConsistencyOut:
    """RFC 9162 consistency proof: the tree of `first` entries is a prefix of the tree of `second`."""
    proof = await audit.consistency_proof(get_deps(request), first, second)
    return ConsistencyOut(
        first=proof.first,
        second=proof.second,
        first_root=proof.first_root.hex(),
        second_root=proof.second_root.hex(),
        consistency_path=[p.hex() for p in proof.path],
    )


@router.get("/audit/entries", tags=["verification"], responses=_PROBLEMS)
async def entries(
    request: Request,
    start: Annotated[int, Query(ge=0, le=_MAX)] = 0,
    end: Annotated[
        int | None, Query(ge=1, le=_MAX, description=f"default: start + {MAX_LEAVES_PER_PAGE}")
    ] = None,
) -> LeavesOut:
    """Leaf hashes of entries [start, end). Signed in, your own entries also come with their data,
    so you can recompute their hashes; nobody else's data is ever shown."""
    end = start + MAX_LEAVES_PER_PAGE if end is None else end
    session = await signed_in(request)
    grant = None if session is None else session[0]
    leaves = await audit.leaves_for(get_deps(request), grant, start=start, end=end)
    return LeavesOut(
        start=start,
        end=end,
        leaves=[
            LeafOut(
                index=leaf.index,
                leaf_hash=leaf.leaf_hash,
                entry=None if leaf.entry is None else _entry_out(leaf.entry),
            )
            for leaf in leaves
        ],
    )


def _entry_out(entry: AuditEntry) -> dict[str, Any]:
    return {
        "index": entry.index,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "person_id": entry.person_id,
        "purpose": entry.purpose,
        "action": entry.action,
        "subject": entry.subject,
        "leaf_data": entry.leaf_data().decode(),
    }
