#!/usr/bin/python3
"""Runs amtterm on a pseudo-terminal, waits for the serial-over-LAN session,
types a line and checks it comes back.  Extra arguments go to amtterm
(e.g. proxychains4 ... amtterm host port).  Exit 0 on echo, 1 otherwise;
the terminal output is printed for the test log."""
import os, pty, select, sys, time

TEXT = b"fcfh-echo-test"
argv = sys.argv[1:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)

out = b""
def read_until(pred, timeout):
    global out
    end = time.time() + timeout
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return False
            if not chunk:
                return False
            out += chunk
            if pred():
                return True
    return pred()

ok = read_until(lambda: b"redirection ok" in out.lower() or b"sol" in out.lower() and b"ok" in out.lower(), 10)
if ok:
    time.sleep(0.3)
    mark = len(out)
    os.write(fd, TEXT)
    ok = read_until(lambda: TEXT in out[mark:], 10)
os.write(fd, b"\x1d")              # ^] ends amtterm
time.sleep(0.3)
try:
    os.kill(pid, 9)
except OSError:
    pass
sys.stdout.write(out.decode("latin1"))
sys.exit(0 if ok else 1)
