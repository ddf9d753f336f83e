# ruff: noqa: F821 - P is the parameter line tools/bench_run.py writes in front
# One end of the TLS handshake bench (tools/bench.py, figures 1 and 2).
#
# MicroPython's own `tls` module (mbedTLS) over a TCP connection to a LinkSim
# side paced like a 115200-baud UART. P: role ("server" or "client"), port,
# cert, key (DER file names; the client trusts the self-signed certificate),
# or psk (hex; TLS-PSK instead of certificates). The driver paces the
# rounds through stdin: "go" starts a handshake, "close" ends the connection,
# "quit" stops. The client times wrap_socket (the whole handshake) with ticks_us.

import gc
import json
import socket
import sys
from time import ticks_diff, ticks_us  # type: ignore[attr-defined]

import tls


def emit(kind, **fields):
    fields["kind"] = kind
    print("BENCH", json.dumps(fields))


def nodelay(s):
    # TCP_NODELAY (Linux: IPPROTO_TCP 6, TCP_NODELAY 1): the TCP hop to
    # LinkSim must not hold back small writes (Nagle) where a UART would not
    try:
        s.setsockopt(6, 1, 1)
    except OSError:
        pass


def context():
    server = P["role"] == "server"
    ctx = tls.SSLContext(tls.PROTOCOL_TLS_SERVER if server else tls.PROTOCOL_TLS_CLIENT)
    if P.get("psk"):
        key = bytes.fromhex(P["psk"])
        if server:
            ctx.server_psk_keys = {b"bench": key}
        else:
            ctx.psk_identity = b"bench"
            ctx.psk_key = key
        ctx.verify_mode = tls.CERT_NONE
    elif server:
        with open(P["cert"], "rb") as f:
            cert = f.read()
        with open(P["key"], "rb") as f:
            key = f.read()
        ctx.load_cert_chain(cert, key)
    else:
        with open(P["cert"], "rb") as f:
            cert = f.read()
        ctx.verify_mode = tls.CERT_REQUIRED
        ctx.load_verify_locations(cert)
    return ctx


def main():
    server = P["role"] == "server"
    ctx = context()
    addr = socket.getaddrinfo("127.0.0.1", P["port"])[0][-1]
    emit("ready")
    while True:
        cmd = sys.stdin.readline().strip()
        if cmd != "go":
            break
        s = socket.socket()
        s.connect(addr)
        nodelay(s)
        emit("connected")
        gc.collect()
        t0 = ticks_us()
        if server:
            ss = ctx.wrap_socket(s, server_side=True)
        else:
            ss = ctx.wrap_socket(s, server_hostname="ephkey-bench")
        dt = ticks_diff(ticks_us(), t0)
        emit("hs", us=dt)
        sys.stdin.readline()  # "close"
        s.close()  # the TCP connection only: no close_notify on the line
        del ss  # the mbedTLS context goes to the GC
        emit("closed")


main()
