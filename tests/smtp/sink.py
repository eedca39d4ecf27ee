#!/usr/bin/env python3
"""A real SMTP server for Herald's tests (aiosmtpd): stores every message it accepts.

    sink.py --port N --dir DIR [--refuse a@x,b@y] [--defer c@z]

Each accepted message is written to DIR as NNNNNN.eml, with the envelope recipient first in an
`X-Sink-Rcpt:` line, then the client's EHLO name in an `X-Sink-Helo:` line (which instance sent
it). Recipients in --refuse get `550 5.1.1`, those in --defer `451 4.3.0`.
Prints `READY` once it accepts connections.
"""
import argparse
import itertools
import os
import sys

from aiosmtpd.controller import Controller


class Store:
    def __init__(self, directory, refuse, defer):
        self.directory = directory
        self.refuse = refuse
        self.defer = defer
        self.counter = itertools.count(1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.refuse:
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        if address.lower() in self.defer:
            return "451 4.3.0 <%s>: Try again later" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        n = next(self.counter)
        path = os.path.join(self.directory, "%06d.eml" % n)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(("X-Sink-Rcpt: %s\r\n" % ",".join(envelope.rcpt_tos)).encode())
            f.write(("X-Sink-Helo: %s\r\n" % (session.host_name or "")).encode())
            f.write(("X-Sink-Mail-Options: %s\r\n" % " ".join(envelope.mail_options)).encode())
            data = envelope.original_content or envelope.content
            f.write(data if isinstance(data, bytes) else data.encode())
        os.rename(tmp, path)  # readers never see half a message
        return "250 2.0.0 Ok: queued as %06d" % n


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--refuse", default="")
    p.add_argument("--defer", default="")
    p.add_argument("--no-smtputf8", action="store_true",
                   help="do not announce SMTPUTF8 (RFC 6531)")
    args = p.parse_args()
    split = lambda s: {a.strip().lower() for a in s.split(",") if a.strip()}
    handler = Store(args.dir, split(args.refuse), split(args.defer))
    controller = Controller(handler, hostname="127.0.0.1", port=args.port, decode_data=False,
                            enable_SMTPUTF8=not args.no_smtputf8, data_size_limit=10 * 1024 * 1024)
    controller.start()
    print("READY", flush=True)
    try:
        sys.stdin.read()  # runs until the test closes our stdin (or dies)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
