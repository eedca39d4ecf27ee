#!/usr/bin/env python3
"""Verifies the DKIM signature of one message with dkimpy, offline: the key comes from a file.

    dkim_verify.py --message FILE --selector S --domain D --public-key-file PUBKEY.txt

PUBKEY.txt holds the TXT record as published (`v=DKIM1; k=rsa; p=...`), or a PEM public key
(`openssl pkey -pubout`), or the bare base64 `p=` value (32 bytes means Ed25519).
Prints `VALID` and exits 0, or `INVALID: reason` and exits 1; exits 2 when it cannot check
(Ed25519 needs PyNaCl: pip install dkimpy pynacl).
"""
import argparse
import base64
import logging
import re
import sys

import dkim

ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


def txt_record(text):
    """The DNS TXT record for the key in `text`, in any of the accepted forms."""
    text = text.strip()
    if "-----BEGIN" in text:
        match = re.search(r"-----BEGIN PUBLIC KEY-----(.*?)-----END PUBLIC KEY-----", text, re.S)
        if not match:
            raise ValueError("the PEM file holds no PUBLIC KEY block")
        der = base64.b64decode("".join(match.group(1).split()))
        if der.startswith(ED25519_SPKI_PREFIX):
            raw = der[len(ED25519_SPKI_PREFIX):]
            return b"v=DKIM1; k=ed25519; p=" + base64.b64encode(raw)
        return b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)
    if "p=" in text:
        return " ".join(text.split()).encode()
    p = "".join(text.split())
    kind = "ed25519" if len(base64.b64decode(p)) == 32 else "rsa"
    return ("v=DKIM1; k=%s; p=%s" % (kind, p)).encode()


class Reasons(logging.Handler):
    """Keeps the problems dkimpy logs (it logs its debug trace at the same logger)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.problems = []

    def emit(self, record):
        self.problems.append(record.getMessage())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--message", required=True)
    parser.add_argument("--selector", required=True)
    parser.add_argument("--domain", required=True)
    parser.add_argument("--public-key-file", required=True)
    args = parser.parse_args()

    with open(args.message, "rb") as f:
        message = f.read()
    with open(args.public_key_file, encoding="ascii") as f:
        record = txt_record(f.read())
    if b"k=ed25519" in record:
        try:
            import nacl  # noqa: F401  (dkimpy needs it for Ed25519, and says so only as a failure)
        except ImportError:
            print("dkim_verify.py: Ed25519 needs PyNaCl: pip install pynacl", file=sys.stderr)
            return 2
    wanted = "%s._domainkey.%s." % (args.selector, args.domain.rstrip("."))

    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        if name.rstrip(".").lower() + "." == wanted.lower():
            return record
        return None

    reasons = Reasons()
    logger = logging.getLogger("dkim_verify")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(reasons)
    logger.propagate = False

    if not re.search(rb"^DKIM-Signature:", message, re.I | re.M):
        print("INVALID: the message has no DKIM-Signature header")
        return 1
    try:
        checker = dkim.DKIM(message, logger=logger, minkey=1024)
        valid = checker.verify(dnsfunc=dnsfunc)
    except Exception as e:  # dkimpy raises for malformed signatures and keys
        print("INVALID: %s: %s" % (type(e).__name__, e))
        return 1
    if valid:
        print("VALID")
        return 0
    reason = "; ".join(reasons.problems) or (
        "the b= signature does not match the signed headers (changed in transit, or another key)"
    )
    if checker.domain and checker.domain.decode() != args.domain.rstrip("."):
        reason = "signed for d=%s, not %s" % (checker.domain.decode(), args.domain)
    print("INVALID: %s" % " ".join(reason.split()))
    return 1


if __name__ == "__main__":
    sys.exit(main())
