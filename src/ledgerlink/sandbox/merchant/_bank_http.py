"""The sandbox bank as a standalone shop reaches it (`ledgerlink sandbox-merchant`): over HTTP,
with the bank's admin token from the registration file `ledgerlink sandbox` shares. The same
hooks the embedded shop calls in-process: a card payment by number (`/sandbox/card-payments`),
an account payment, capture, refund and void (`/sandbox/simulate/{kind}`). The bank's refusals
become the shop's (ShopProblem with the bank's code and words, which never repeat the number)."""

from __future__ import annotations

from typing import Any

import httpx

from ledgerlink.sandbox.merchant.shop import ShopProblem

__all__ = ["BankOverHttp"]


class BankOverHttp:
    def __init__(self, base_url: str, *, admin_token: str, http: httpx.AsyncClient) -> None:
        self._base = base_url.rstrip("/")
        self._headers = {"authorization": f"Bearer {admin_token}"}
        self._http = http

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            resp = await self._http.post(f"{self._base}{path}", json=body, headers=self._headers)
        except httpx.HTTPError:
            raise ShopProblem(
                503, "bank_unreachable", "the bank did not answer; try again in a moment"
            ) from None
        if resp.status_code >= 400:
            try:
                problem = resp.json()
            except ValueError:
                problem = {}
            status = resp.status_code if resp.status_code in (402, 404, 409, 422) else 502
            raise ShopProblem(
                status,
                str(problem.get("code") or "bank_error"),
                str(problem.get("detail") or "the bank refused the payment"),
            )
        answer: dict[str, Any] = resp.json()
        return answer

    async def charge_card(
        self, *, pan: str, exp_month: int, exp_year: int, cvc: str, merchant: str, amount: str
    ) -> tuple[str, str]:
        got = await self._post(
            "/sandbox/card-payments",
            {
                "card_number": pan,
                "exp_month": exp_month,
                "exp_year": exp_year,
                "cvc": cvc,
                "merchant": merchant,
                "amount": amount,
            },
        )
        return str(got["transaction_id"]), str(got["last4"])

    async def pay(self, login: str, *, account_id: str | None = None, merchant: str, amount: str) -> str:
        got = await self._post(
            "/sandbox/simulate/purchase",
            {"login": login, "account_id": account_id, "merchant": merchant, "amount": amount},
        )
        return str(got["transaction_id"])

    async def capture(self, transaction_id: str, *, final_amount: str | None = None) -> str:
        body = {"transaction_id": transaction_id, **({"final_amount": final_amount} if final_amount else {})}
        return str((await self._post("/sandbox/simulate/post", body))["transaction_id"])

    async def refund(self, transaction_id: str, *, amount: str) -> str:
        got = await self._post(
            "/sandbox/simulate/refund", {"transaction_id": transaction_id, "amount": amount}
        )
        return str(got["transaction_id"])

    async def void(self, transaction_id: str) -> str:
        return str(
            (await self._post("/sandbox/simulate/void", {"transaction_id": transaction_id}))["transaction_id"]
        )
