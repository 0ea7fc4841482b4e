"""`Passkeys` on py_webauthn (3.x): the four ceremony functions, nothing hand-written.

The relying party is the platform's public URL: its host is the RP ID and its origin the only
expected origin. Attestation is "none" (a passkey is a second factor here, not a statement about
the device), user verification is preferred. A credential from the page is outside input: any
failure to parse or verify it, whatever the library raises, is one `FactorRefused`; the log gets
the exception's class, never the credential.
"""

from __future__ import annotations

import structlog
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import parse_authentication_credential_json, parse_registration_credential_json
from webauthn.helpers.exceptions import InvalidAuthenticationResponse
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from ledgerlink.services.auth.ports import FactorRefused, NewPasskey, PasskeyAssertion, RelyingParty

__all__ = ["WebAuthnPasskeys"]

log = structlog.get_logger(__name__)

TIMEOUT_MS = 120_000
_TRANSPORTS = {t.value: t for t in AuthenticatorTransport}


def _refused(what: str, exc: Exception) -> FactorRefused:
    log.info("passkey_refused", step=what, reason=type(exc).__name__)
    return FactorRefused("That passkey could not be checked. Please try again.", code="passkey_refused")


class WebAuthnPasskeys:
    def registration_options(self, rp: RelyingParty, *, user_id: bytes, user_name: str,
                             display_name: str, exclude: list[bytes]) -> tuple[str, bytes]:
        options = generate_registration_options(
            rp_id=rp.id, rp_name=rp.name, user_id=user_id, user_name=user_name,
            user_display_name=display_name, timeout=TIMEOUT_MS,
            attestation=AttestationConveyancePreference.NONE,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.PREFERRED),
            exclude_credentials=[PublicKeyCredentialDescriptor(id=c) for c in exclude],
        )
        return options_to_json(options), options.challenge

    def verify_registration(self, rp: RelyingParty, credential: str, *, challenge: bytes) -> NewPasskey:
        try:
            parsed = parse_registration_credential_json(credential)
            verified = verify_registration_response(credential=parsed, expected_challenge=challenge,
                                                    expected_rp_id=rp.id, expected_origin=rp.origin)
        except Exception as exc:  # hostile input: every failure is a refusal
            raise _refused("registration", exc) from None
        transports = tuple(t.value for t in parsed.response.transports or () if t.value in _TRANSPORTS)
        return NewPasskey(credential_id=verified.credential_id, public_key=verified.credential_public_key,
                          sign_count=verified.sign_count, transports=transports)

    def authentication_options(self, rp: RelyingParty, *,
                               allow: list[tuple[bytes, tuple[str, ...]]]) -> tuple[str, bytes]:
        options = generate_authentication_options(
            rp_id=rp.id, timeout=TIMEOUT_MS, user_verification=UserVerificationRequirement.PREFERRED,
            allow_credentials=[
                PublicKeyCredentialDescriptor(
                    id=credential_id,
                    transports=[_TRANSPORTS[t] for t in transports if t in _TRANSPORTS] or None)
                for credential_id, transports in allow
            ],
        )
        return options_to_json(options), options.challenge

    def credential_id(self, credential: str) -> bytes:
        try:
            return parse_authentication_credential_json(credential).raw_id
        except Exception as exc:  # hostile input
            raise _refused("parse", exc) from None

    def verify_authentication(self, rp: RelyingParty, credential: str, *, challenge: bytes,
                              public_key: bytes, sign_count: int) -> PasskeyAssertion:
        try:
            verified = verify_authentication_response(
                credential=credential, expected_challenge=challenge, expected_rp_id=rp.id,
                expected_origin=rp.origin, credential_public_key=public_key,
                credential_current_sign_count=sign_count)
        except InvalidAuthenticationResponse as exc:
            if "sign count" in str(exc):  # the authenticator's counter went back: a copied key?
                log.warning("passkey_sign_count_went_back")
                raise FactorRefused("That passkey's use counter went backwards, which a copied passkey "
                                    "does. It was not accepted.", code="passkey_sign_count") from None
            raise _refused("authentication", exc) from None
        except Exception as exc:  # hostile input: every failure is a refusal
            raise _refused("authentication", exc) from None
        return PasskeyAssertion(credential_id=verified.credential_id, new_sign_count=verified.new_sign_count)
