"""The audit log's Merkle tree agrees with RFC 6962/9162, and its proofs prove what they say."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerlink.domain.audit import (
    EMPTY_ROOT,
    AuditEntry,
    CompactRange,
    TreeHead,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    verify_consistency,
    verify_inclusion,
)
from ledgerlink.services.access.ports import AuditRecord
from ledgerlink.services.privacy.audit_checks import check_entries

# The Certificate Transparency reference leaves and roots (RFC 6962 test vectors).
CT_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = {
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}
CT_CONSISTENCY = {
    (2, 8): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}
HASHES = [leaf_hash(d) for d in CT_LEAVES]

leaf_lists = st.lists(st.binary(max_size=8), min_size=1, max_size=70).map(
    lambda ds: [leaf_hash(d) for d in ds]
)


def _reference_root(leaves: list[bytes]) -> bytes:
    """MTH exactly as RFC 9162 section 2.1.1 writes it (recursive), to check the fast version."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(_reference_root(leaves[:k]), _reference_root(leaves[k:]))


def test_roots_match_the_rfc_6962_reference_vectors() -> None:
    for n, expected in enumerate(CT_ROOTS):
        assert merkle_root(HASHES[:n]).hex() == expected


def test_inclusion_proofs_match_the_reference_vectors() -> None:
    for (index, size), expected in CT_INCLUSION.items():
        assert [p.hex() for p in inclusion_proof(HASHES[:size], index=index)] == expected


def test_consistency_proofs_match_the_reference_vectors() -> None:
    for (first, second), expected in CT_CONSISTENCY.items():
        proof = consistency_proof(HASHES[:second], old_size=first)
        assert [p.hex() for p in proof] == expected
        assert verify_consistency(
            proof,
            old_size=first,
            new_size=second,
            old_root=bytes.fromhex(CT_ROOTS[first]),
            new_root=bytes.fromhex(CT_ROOTS[second]),
        )


@given(leaf_lists)
def test_the_compact_range_root_is_the_rfc_root_for_every_prefix(leaves: list[bytes]) -> None:
    tree = CompactRange()
    for n, leaf in enumerate(leaves, start=1):
        tree.append(leaf)
        assert tree.root() == _reference_root(leaves[:n])


@settings(max_examples=60)
@given(leaf_lists)
def test_every_leaf_has_an_inclusion_proof_that_verifies_and_only_for_itself(leaves: list[bytes]) -> None:
    n, root = len(leaves), merkle_root(leaves)
    for i in range(n):
        path = inclusion_proof(leaves, index=i)
        assert verify_inclusion(leaves[i], index=i, tree_size=n, path=path, root=root)
        other = leaf_hash(b"not in the tree")
        assert not verify_inclusion(other, index=i, tree_size=n, path=path, root=root)
        if n > 1:
            assert not verify_inclusion(leaves[i], index=(i + 1) % n, tree_size=n, path=path, root=root) or (
                leaves[i] == leaves[(i + 1) % n]
            )
            assert not verify_inclusion(leaves[i], index=i, tree_size=n, path=path[:-1], root=root)
        assert not verify_inclusion(leaves[i], index=i, tree_size=n, path=[*path, root], root=root)


@settings(max_examples=60)
@given(leaf_lists)
def test_every_pair_of_sizes_has_a_consistency_proof_that_verifies(leaves: list[bytes]) -> None:
    n = len(leaves)
    roots = [merkle_root(leaves[:m]) for m in range(n + 1)]
    for m in range(1, n + 1):
        proof = consistency_proof(leaves, old_size=m)
        assert verify_consistency(proof, old_size=m, new_size=n, old_root=roots[m], new_root=roots[n])
        if m < n:
            forged = leaf_hash(b"rewritten history")
            assert not verify_consistency(proof, old_size=m, new_size=n, old_root=forged, new_root=roots[n])
            assert not verify_consistency(proof, old_size=m, new_size=n, old_root=roots[m], new_root=forged)
            assert not verify_consistency(
                proof[:-1], old_size=m, new_size=n, old_root=roots[m], new_root=roots[n]
            )


@settings(max_examples=40)
@given(leaf_lists, st.data())
def test_a_rewritten_prefix_has_no_consistency_proof(leaves: list[bytes], data: st.DataObject) -> None:
    n = len(leaves)
    m = data.draw(st.integers(1, n))
    i = data.draw(st.integers(0, m - 1))
    old_root = merkle_root(leaves[:m])
    rewritten = [*leaves]
    rewritten[i] = leaf_hash(b"changed" + leaves[i])
    proof = consistency_proof(rewritten, old_size=m)
    assert not verify_consistency(
        proof, old_size=m, new_size=n, old_root=old_root, new_root=merkle_root(rewritten)
    )


def test_the_tree_head_signs_canonical_bytes_that_name_every_field() -> None:
    at = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)
    head = TreeHead(tree_size=8, root_hash=bytes.fromhex(CT_ROOTS[8]), timestamp=at, key_id="sk_1")
    assert head.signed_bytes() == (
        b'{"format":"ledgerlink-audit-tree-head/v1","key_id":"sk_1","root_hash":"'
        + CT_ROOTS[8].encode()
        + b'","timestamp":"2026-03-01T12:00:00.250Z","tree_size":8}'
    )
    for changed in (
        replace(head, tree_size=9),
        replace(head, root_hash=EMPTY_ROOT),
        replace(head, timestamp=at + timedelta(milliseconds=1)),
        replace(head, key_id="sk_2"),
    ):
        assert changed.signed_bytes() != head.signed_bytes()


# ------------------------------------------------------------------- tampering with stored rows

_T0 = datetime(2026, 1, 1, tzinfo=UTC)
_purposes = st.sampled_from(["deliver_update", "sync_with_bank", "show_to_person"])
entry_lists = st.lists(
    st.tuples(
        st.sampled_from(["per_a", "per_b"]), _purposes, st.sampled_from(["read_account", "read_messages"])
    ),
    min_size=2,
    max_size=25,
)


def _entries(spec: list[tuple[str, str, str]]) -> list[AuditEntry]:
    return [
        AuditEntry(
            index=i,
            at=_T0 + timedelta(seconds=i),
            actor=f"person:{p}",
            person_id=p,
            purpose=purpose,
            action=action,
            subject=f"account:acc_{i}",
        )
        for i, (p, purpose, action) in enumerate(spec)
    ]


_FIELDS = ("at", "actor", "person_id", "purpose", "action", "subject")


def _stored(entries: list[AuditEntry]) -> list[dict[str, object]]:
    """The rows as the database holds them."""
    return [
        {"seq": e.index, **{f: getattr(e, f) for f in _FIELDS}, "leaf_hash": e.leaf_hash().hex()}
        for e in entries
    ]


def _findings(rows: list[dict[str, object]]) -> set[tuple[str, int | None]]:
    _, found = check_entries([AuditRecord(**r) for r in rows])  # type: ignore[arg-type]
    return {(f.check, f.index) for f in found}


@given(entry_lists, st.data())
def test_every_single_change_of_a_stored_entry_is_detected(spec: list, data: st.DataObject) -> None:
    rows = _stored(_entries(spec))
    assert _findings(rows) == set()
    i = data.draw(st.integers(0, len(rows) - 1))
    column = data.draw(st.sampled_from(_FIELDS))
    row = rows[i]
    row[column] = row[column] + timedelta(seconds=1) if column == "at" else f"{row[column]}x"  # type: ignore[operator]
    assert _findings(rows) == {("changed", i)}


@given(entry_lists, st.data())
def test_every_single_removal_is_detected(spec: list, data: st.DataObject) -> None:
    rows = _stored(_entries(spec))
    i = data.draw(st.integers(0, len(rows) - 2))  # removing the last one needs a signed head
    del rows[i]
    assert _findings(rows) == {("missing", i)}


@given(entry_lists, st.data())
def test_every_swap_of_two_entries_is_detected_as_moved(spec: list, data: st.DataObject) -> None:
    rows = _stored(_entries(spec))
    i, j = sorted(data.draw(st.lists(st.integers(0, len(rows) - 1), min_size=2, max_size=2, unique=True)))
    content = {k: v for k, v in rows[i].items() if k != "seq"}
    rows[i] = {"seq": i, **{k: v for k, v in rows[j].items() if k != "seq"}}
    rows[j] = {"seq": j, **content}
    assert _findings(rows) == {("moved", i), ("moved", j)}
