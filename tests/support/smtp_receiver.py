#!/usr/bin/python3
"""A real SMTP server for tests (aiosmtpd): records every accepted message as files.

For each message it writes DIR/<seq>.eml (the raw bytes) and then DIR/<seq>.json (a summary),
the .json last and by rename, so a reader that sees the .json also sees the whole .eml.
With --hold-file, while that file exists no message is answered or recorded after its final
"."; each one waiting shows as a file in DIR/held/.

Prints "PORT <n>" as its first line of stdout, and exits when its stdin closes (its parent
died) or on SIGTERM. Run it with Debian's /usr/bin/python3, which has python3-aiosmtpd.
"""

import argparse
import asyncio
import email
import email.policy
import hashlib
import json
import logging
import os
import signal
import ssl
import sys
import time
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

HOLD_POLL_SECONDS = 0.02


def summarize(envelope, peer):
    message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)

    def body(subtype):
        part = message.get_body(preferencelist=(subtype,))
        # Line breaks as the sender's text had them, whatever the wire form (CRLF) was.
        return part.get_content().replace("\r\n", "\n") if part is not None else None

    attachments = []
    for part in message.iter_attachments():
        content = part.get_payload(decode=True) or b""
        attachments.append({
            "filename": part.get_filename(),
            "content_type": part.get_content_type(),
            "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
        })
    return {
        "mail_from": envelope.mail_from,
        "rcpt_tos": list(envelope.rcpt_tos),
        "message_id": str(message["Message-ID"] or ""),
        "subject": str(message["Subject"] or ""),
        "text": body("plain"),
        "html": body("html"),
        "attachments": attachments,
        # Two messages with the same peer came over one connection (connection reuse).
        "peer": list(peer) if peer else None,
        # When it was accepted (Unix seconds): benchmarks measure queue-to-sent latency by it.
        "received_at": time.time(),
    }


def write_atomically(path, data):
    partial = path + ".partial"
    with open(partial, "wb") as output:
        output.write(data)
    os.replace(partial, path)


class Recorder:
    def __init__(self, directory, hold_file, reject_rcpt, defer_rcpt):
        self.directory = directory
        self.hold_file = hold_file
        self.reject_rcpt = (reject_rcpt or "").lower()
        self.defer_rcpt = (defer_rcpt or "").lower()
        self.sequence = 0
        self.held_count = 0
        os.makedirs(os.path.join(directory, "held"), exist_ok=True)

    async def wait_while_held(self):
        """Waits while the hold file exists, showing the wait as a file in DIR/held/ so that
        a test can tell when its deliveries are in flight. A client that goes away meanwhile
        cancels this coroutine (aiosmtpd cancels the session on EOF): nothing is recorded."""
        if not self.hold_file or not os.path.exists(self.hold_file):
            return
        self.held_count += 1
        marker = os.path.join(self.directory, "held", str(self.held_count))
        open(marker, "w").close()
        try:
            while os.path.exists(self.hold_file):
                await asyncio.sleep(HOLD_POLL_SECONDS)
        finally:
            os.remove(marker)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject_rcpt and address.lower() == self.reject_rcpt:
            return "550 5.1.1 Mailbox unavailable"
        if self.defer_rcpt and address.lower() == self.defer_rcpt:
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        await self.wait_while_held()
        if server.transport is None or server.transport.is_closing():
            return "421 Client went away"
        try:
            summary = summarize(envelope, session.peer)
        except Exception as error:  # a message the parser cannot read is a test failure
            logging.exception("cannot parse message")
            return f"554 5.6.0 Cannot parse message: {error}"
        self.sequence += 1
        base = os.path.join(self.directory, str(self.sequence))
        write_atomically(base + ".eml", envelope.original_content)
        write_atomically(base + ".json", json.dumps(summary).encode())
        return "250 OK"


def make_authenticator(expected_user, expected_password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        good = (isinstance(auth_data, LoginPassword)
                and auth_data.login == expected_user.encode()
                and auth_data.password == expected_password.encode())
        # handled=False: aiosmtpd then answers the failure itself (535), instead of nothing.
        return AuthResult(success=good, handled=False)
    return authenticate


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0: pick a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--dir", required=True, help="where accepted messages are written")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--auth", help="USER:PASSWORD; AUTH is then required")
    parser.add_argument("--hold-file", help="while this file exists, DATA is not answered")
    parser.add_argument("--reject-rcpt", help="answer 550 to RCPT TO this address")
    parser.add_argument("--defer-rcpt", help="answer 451 to RCPT TO this address")
    return parser.parse_args()


async def serve(arguments):
    loop = asyncio.get_running_loop()
    tls_context = None
    if arguments.tls_cert:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(arguments.tls_cert, arguments.tls_key)
    authenticator = None
    if arguments.auth:
        user, _, password = arguments.auth.partition(":")
        authenticator = make_authenticator(user, password)
    recorder = Recorder(arguments.dir, arguments.hold_file, arguments.reject_rcpt,
                        arguments.defer_rcpt)

    def session():
        return SMTP(
            recorder,
            hostname="receiver.test",  # not socket.getfqdn(): a DNS lookup per session
            tls_context=tls_context,
            require_starttls=tls_context is not None,
            authenticator=authenticator,
            auth_required=authenticator is not None,
            # Tests run AUTH in clear only on loopback without TLS; with TLS, never in clear.
            auth_require_tls=tls_context is not None,
            loop=loop,
        )

    server = await loop.create_server(session, host=arguments.host, port=arguments.port)
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()

    stopped = loop.create_future()

    def stop():
        if not stopped.done():
            stopped.set_result(None)

    def on_stdin():
        if not os.read(sys.stdin.fileno(), 4096):
            loop.remove_reader(sys.stdin.fileno())
            stop()

    loop.add_reader(sys.stdin.fileno(), on_stdin)
    loop.add_signal_handler(signal.SIGTERM, stop)
    loop.add_signal_handler(signal.SIGINT, stop)
    await stopped
    server.close()


def main():
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="smtp_receiver: %(levelname)s %(message)s")
    # aiosmtpd warns on every session that AUTH without TLS is unsafe: intended on loopback.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    asyncio.run(serve(parse_arguments()))


if __name__ == "__main__":
    main()
