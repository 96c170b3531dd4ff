# Binds a UDP socket and a TCP server on HOST:PORT inside named network namespaces and
# hands the descriptors to the Node process that started it (common/netns-listen.ts), over
# Node's IPC channel (NODE_CHANNEL_FD), since Python can setns(2) and Node cannot.
#
# Long-lived: it serves one request after another for as long as the channel is open, so
# a container's sockets cost no process start (one per request cost 0.1-0.5 s under load,
# and every `run` waited for it). It exits when the channel closes: its parent is gone.
#
# A request is a line {"id": N, "host": H, "port": P, "namespaces": [...]}. For each
# namespace the answer is the messages Node itself sends for `subprocess.send(msg,
# handle)` (lib/internal/child_process.js): a JSON line {"cmd":"NODE_HANDLE","type":
# "dgram.Socket" or "net.Server",...} carrying the descriptor as SCM_RIGHTS, which the
# receiver answers with NODE_HANDLE_ACK before the next one is sent; a namespace that
# fails gets a plain message {"ns":…,"error":…} and the others go on. Then {"done": N}.
#
# exit: 0 the channel closed, 2 no IPC channel
import ctypes
import json
import os
import socket
import sys

CLONE_NEWNET = 0x40000000


class Channel:
    def __init__(self, fd):
        self.sock = socket.socket(fileno=fd)
        self.pending = b""

    def line(self):
        """The next line Node sent; exits when the channel closes."""
        while b"\n" not in self.pending:
            data = self.sock.recv(65536)
            if not data:
                sys.exit(0)
            self.pending += data
        line, self.pending = self.pending.split(b"\n", 1)
        return json.loads(line)

    def send(self, message, fd=None):
        line = (json.dumps(message) + "\n").encode()
        if fd is None:
            self.sock.sendall(line)
            return
        rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fd.to_bytes(4, sys.byteorder))]
        self.sock.sendmsg([line], rights)
        while self.line().get("cmd") != "NODE_HANDLE_ACK":
            pass


def setns(libc, fd):
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


def serve(channel, libc, home, host, port, ns):
    try:
        fd = os.open("/run/netns/" + ns, os.O_RDONLY)
        try:
            setns(libc, fd)
        finally:
            os.close(fd)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            udp.bind((host, port))
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((host, port))
            tcp.listen(64)
            channel.send({"cmd": "NODE_HANDLE", "type": "dgram.Socket", "dgramType": "udp4",
                          "msg": {"ns": ns, "kind": "udp"}}, udp.fileno())
            channel.send({"cmd": "NODE_HANDLE", "type": "net.Server", "msg": {"ns": ns, "kind": "tcp"}},
                         tcp.fileno())
        finally:
            udp.close()
            tcp.close()
    except OSError as err:
        channel.send({"ns": ns, "error": str(err)})
    finally:
        # Back home: a process left in a container's namespace is one of its processes
        # (`ip netns pids`), and removing the container would kill it.
        setns(libc, home)


def main():
    if "NODE_CHANNEL_FD" not in os.environ:
        sys.exit(2)
    libc = ctypes.CDLL(None, use_errno=True)
    channel = Channel(int(os.environ["NODE_CHANNEL_FD"]))
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    while True:
        request = channel.line()
        if "id" not in request:
            continue  # a stray acknowledgement
        for ns in request["namespaces"]:
            serve(channel, libc, home, request["host"], int(request["port"]), ns)
        channel.send({"done": request["id"]})


main()
