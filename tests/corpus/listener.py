"""A loopback listener that counts the connections the corpus's network attack makes."""
from __future__ import annotations

import socket
import threading


class Listener:
    def __init__(self, port: int):
        self.count, self.stopped = 0, False
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind(("127.0.0.1", port))
        except OSError:             # another run listens already: connections are not counted here
            self.available = False
            return
        self.available = True
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.stopped:
            try:
                self.sock.accept()[0].close()
                self.count += 1
            except OSError:
                pass

    def close(self):
        self.stopped = True
        self.sock.close()
