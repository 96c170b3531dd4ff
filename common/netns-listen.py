# Binds a UDP socket and a TCP server on HOST:PORT inside each named network namespace and
# hands the descriptors to the Node process that started it (the executor's `listenIn`),
# over Node's IPC channel (NODE_CHANNEL_FD): one process for any number of namespaces,
# since Python can setns(2) and Node cannot.
#
# The messages are the ones Node itself sends for `subprocess.send(msg, handle)` (lib/
# internal/child_process.js): a JSON line {"cmd":"NODE_HANDLE","type":"dgram.Socket" or
# "net.Server",...} carrying the descriptor as SCM_RIGHTS, answered by the receiver with
# NODE_HANDLE_ACK before the next one is sent. A namespace that fails gets a plain message
# {"ns":…,"error":…} and the others go on.
#
# argv: HOST PORT NETNS…   exit: 0 done, 2 bad arguments or no IPC channel
import ctypes
import json
import os
import socket
import sys

CLONE_NEWNET = 0x40000000
ACK = b'"NODE_HANDLE_ACK"'


def main():
    if len(sys.argv) < 3 or "NODE_CHANNEL_FD" not in os.environ:
        sys.exit(2)
    host, port, namespaces = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    libc = ctypes.CDLL(None, use_errno=True)
    channel = socket.socket(fileno=int(os.environ["NODE_CHANNEL_FD"]))
    pending = b""

    def send(message, fd=None):
        nonlocal pending
        line = (json.dumps(message) + "\n").encode()
        if fd is None:
            channel.sendall(line)
            return
        rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fd.to_bytes(4, sys.byteorder))]
        channel.sendmsg([line], rights)
        while ACK not in pending:
            data = channel.recv(4096)
            if not data:
                sys.exit(0)
            pending += data
        pending = pending.split(ACK, 1)[1]

    for ns in namespaces:
        try:
            fd = os.open("/run/netns/" + ns, os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
            finally:
                os.close(fd)
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                udp.bind((host, port))
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind((host, port))
                tcp.listen(64)
                send({"cmd": "NODE_HANDLE", "type": "dgram.Socket", "dgramType": "udp4",
                      "msg": {"ns": ns, "kind": "udp"}}, udp.fileno())
                send({"cmd": "NODE_HANDLE", "type": "net.Server", "msg": {"ns": ns, "kind": "tcp"}}, tcp.fileno())
            finally:
                udp.close()
                tcp.close()
        except OSError as err:
            send({"ns": ns, "error": str(err)})


main()
