#!/usr/bin/env python3
"""Writes token.json from an implementation independent of Tollgate's C++ codec.

Run by hand when the token format changes: python3 tests/vectors/make_token_vectors.py
"""
import base64, hashlib, hmac, json, os

KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
OTHER_KEY = bytes(32)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_text(c: dict) -> str:
    ordered = {"v": 1, "kid": c["keyId"], "sid": c["sessionId"], "pid": c["projectId"], "sub": c["endUserId"],
               "ops": c["operations"], "iat": c["issuedAtMs"], "exp": c["expiresAtMs"]}
    return json.dumps(ordered, separators=(",", ":"), ensure_ascii=False)


def sign(raw_claims: str, key=KEY) -> str:
    signing_input = "tg_rt_" + b64(raw_claims.encode())
    mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(mac)


BASE = {"keyId": "rtk_1", "sessionId": "rts_8f2a", "projectId": "proj_acme", "endUserId": "user_123",
        "operations": ["summarize_ticket"], "issuedAtMs": 1790000000000, "expiresAtMs": 1790000900000}
MULTI = dict(BASE, operations=["summarize_ticket", "draft-reply", "classify2"], endUserId="ada@example.com")
UNICODE = dict(BASE, endUserId="caf\u00e9 \U0001F600", sessionId="rts_U")

good = sign(claims_text(BASE))
claims_b64, sig_b64 = good[len("tg_rt_"):].split(".")
tampered_claims = dict(BASE, endUserId="user_999")
tampered = "tg_rt_" + b64(claims_text(tampered_claims).encode()) + "." + sig_b64


def raw(obj) -> str:
    return sign(json.dumps(obj, separators=(",", ":")))


doc = {
    "description": "Runtime-session tokens. Signatures are HMAC-SHA256 with key_hex; the codec itself takes the signer as a function.",
    "key_hex": KEY.hex(),
    "encode": [
        {"name": "one operation", "claims": BASE, "token": good},
        {"name": "several operations, email user id", "claims": MULTI, "token": sign(claims_text(MULTI))},
        {"name": "unicode end user id", "claims": UNICODE, "token": sign(claims_text(UNICODE))},
    ],
    "encode_invalid": [
        {"name": "no operations", "claims": dict(BASE, operations=[]), "error": "invalid_argument", "param": "operations"},
        {"name": "bad slug", "claims": dict(BASE, operations=["Bad Slug"]), "error": "invalid_argument", "param": "operations"},
        {"name": "duplicate slug", "claims": dict(BASE, operations=["a", "a"]), "error": "invalid_argument", "param": "operations"},
        {"name": "expiry before issue", "claims": dict(BASE, expiresAtMs=BASE["issuedAtMs"]), "error": "invalid_argument", "param": "expires_at_ms"},
        {"name": "empty end user", "claims": dict(BASE, endUserId=""), "error": "invalid_argument", "param": "end_user_id"},
        {"name": "control char in end user", "claims": dict(BASE, endUserId="a\nb"), "error": "invalid_argument", "param": "end_user_id"},
        {"name": "C1 control char in end user", "claims": dict(BASE, endUserId="a\u0085b"), "error": "invalid_argument", "param": "end_user_id"},
        {"name": "expiry past 2^53 - 1", "claims": dict(BASE, expiresAtMs=2**53), "error": "invalid_argument", "param": "expires_at_ms"},
        {"name": "project id with space", "claims": dict(BASE, projectId="proj acme"), "error": "invalid_argument", "param": "project_id"},
        {"name": "empty session id", "claims": dict(BASE, sessionId=""), "error": "invalid_argument", "param": "session_id"},
        {"name": "empty key id", "claims": dict(BASE, keyId=""), "error": "invalid_argument", "param": "key_id"},
        {"name": "key id with a slash", "claims": dict(BASE, keyId="rtk/1"), "error": "invalid_argument", "param": "key_id"},
        {"name": "too many operations", "claims": dict(BASE, operations=[f"op{i}" for i in range(65)]), "error": "invalid_argument", "param": "operations"},
    ],
    "decode_invalid": [
        {"name": "wrong prefix", "token": "tg_xx_" + claims_b64 + "." + sig_b64, "error": "token_malformed"},
        {"name": "no dot", "token": "tg_rt_" + claims_b64, "error": "token_malformed"},
        {"name": "two dots", "token": good + ".AA", "error": "token_malformed"},
        {"name": "empty signature", "token": "tg_rt_" + claims_b64 + ".", "error": "token_malformed"},
        {"name": "claims not base64url", "token": "tg_rt_" + claims_b64 + "*." + sig_b64, "error": "token_malformed"},
        {"name": "signature not base64url", "token": "tg_rt_" + claims_b64 + ".A", "error": "token_malformed"},
        {"name": "claims not json", "token": sign("not json"), "error": "token_malformed"},
        {"name": "claims an array", "token": sign("[1,2]"), "error": "token_malformed"},
        {"name": "unknown claim", "token": raw({"v": 1, "kid": "k", "sid": "s", "pid": "p", "sub": "u", "ops": ["a"], "iat": 1, "exp": 2, "admin": True}), "error": "token_malformed"},
        {"name": "missing kid", "token": raw({"v": 1, "sid": "s", "pid": "p", "sub": "u", "ops": ["a"], "iat": 1, "exp": 2}), "error": "token_malformed"},
        {"name": "kid is a number", "token": raw({"v": 1, "kid": 7, "sid": "s", "pid": "p", "sub": "u", "ops": ["a"], "iat": 1, "exp": 2}), "error": "token_malformed"},
        {"name": "an alg claim", "token": raw({"v": 1, "alg": "none", "kid": "k", "sid": "s", "pid": "p", "sub": "u", "ops": ["a"], "iat": 1, "exp": 2}), "error": "token_malformed"},
        {"name": "version 2", "token": raw({"v": 2, "kid": "k", "sid": "s", "pid": "p", "sub": "u", "ops": ["a"], "iat": 1, "exp": 2}), "error": "token_malformed"},
        {"name": "missing exp", "token": raw({"v": 1, "kid": "k", "sid": "s", "pid": "p", "sub": "u", "ops": ["a"], "iat": 1}), "error": "token_malformed"},
        {"name": "exp is a string", "token": raw({"v": 1, "kid": "k", "sid": "s", "pid": "p", "sub": "u", "ops": ["a"], "iat": 1, "exp": "2"}), "error": "token_malformed"},
        {"name": "exp past int64", "token": raw({"v": 1, "kid": "k", "sid": "s", "pid": "p", "sub": "u", "ops": ["a"], "iat": 1, "exp": 18446744073709551615}), "error": "token_malformed"},
        {"name": "exp past 2^53 - 1", "token": raw({"v": 1, "kid": "k", "sid": "s", "pid": "p", "sub": "u", "ops": ["a"], "iat": 1, "exp": 2**53}), "error": "token_malformed"},
        {"name": "ops holds a number", "token": raw({"v": 1, "kid": "k", "sid": "s", "pid": "p", "sub": "u", "ops": [1], "iat": 1, "exp": 2}), "error": "token_malformed"},
        {"name": "invalid slug in ops", "token": raw({"v": 1, "kid": "k", "sid": "s", "pid": "p", "sub": "u", "ops": ["DROP TABLE"], "iat": 1, "exp": 2}), "error": "token_malformed"},
        {"name": "longer than 4096 bytes", "token": "tg_rt_" + "A" * 4100 + "." + sig_b64, "error": "token_malformed"},
    ],
    "verify": [
        {"name": "valid before expiry", "token": good, "now_ms": BASE["expiresAtMs"] - 1},
        {"name": "expired at exactly exp", "token": good, "now_ms": BASE["expiresAtMs"], "error": "token_expired"},
        {"name": "expired long after", "token": good, "now_ms": BASE["expiresAtMs"] + 86400000, "error": "token_expired"},
        {"name": "tampered claims", "token": tampered, "now_ms": BASE["issuedAtMs"], "error": "token_signature_invalid"},
        {"name": "signed with another key", "token": sign(claims_text(BASE), OTHER_KEY), "now_ms": BASE["issuedAtMs"], "error": "token_signature_invalid"},
        {"name": "truncated signature", "token": good[:-4], "now_ms": BASE["issuedAtMs"], "error": "token_signature_invalid"},
        {"name": "malformed before signature", "token": "tg_rt_nodot", "now_ms": BASE["issuedAtMs"], "error": "token_malformed"},
    ],
    "scope": [
        {"name": "granted", "token": sign(claims_text(MULTI)), "operation": "draft-reply"},
        {"name": "not granted", "token": sign(claims_text(MULTI)), "operation": "delete_account", "error": "token_scope_denied"},
        {"name": "prefix is not a grant", "token": sign(claims_text(MULTI)), "operation": "draft", "error": "token_scope_denied"},
        {"name": "case matters", "token": good, "operation": "Summarize_Ticket", "error": "token_scope_denied"},
    ],
}

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "token.json")
with open(path, "w", encoding="utf-8") as out:
    json.dump(doc, out, indent=2, ensure_ascii=False)
    out.write("\n")
