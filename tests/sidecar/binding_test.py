"""Tests of the Python binding (python/eric_sidecar) against a real `eric sidecar`.

Run by CTest: binding_test.py ERIC_BINARY LIBERICSIDECAR. Standard library
only (unittest); the numpy checks run when numpy is importable.
"""
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
ERIC, LIB = sys.argv[1], sys.argv[2]
os.environ["ERIC_SIDECAR_LIB"] = LIB
del sys.argv[1:3]

from eric_sidecar import Sidecar, SidecarError, SidecarTimeout  # noqa: E402

try:
    import numpy
except ImportError:
    numpy = None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class BindingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="eric_sc_py_")
        cls.sock = os.path.join(cls.dir, "a.sock")
        cls.log = open(os.path.join(cls.dir, "sidecar.log"), "w")
        cls.proc = subprocess.Popen(
            [ERIC, "sidecar", "--node", "a", "--control-socket", cls.sock, "--listen", "127.0.0.1:%d" % free_port(),
             "--ranks", "0,1", "--arena-mib", "8", "--item-ttl", "60"], stdout=cls.log, stderr=subprocess.STDOUT)
        for _ in range(200):
            if os.path.exists(cls.sock):
                break
            time.sleep(0.05)

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait(10)
        cls.log.close()
        assert not os.path.exists(cls.sock), "the sidecar left its control socket behind"

    def test_send_recv_views_and_exactly_once(self):
        payload = bytes(range(256)) * 16  # 4096 bytes = 1024 float32
        with Sidecar(self.sock, -1) as producer, Sidecar(self.sock, 0) as consumer:
            collected = consumer.stats()["items_collected"]
            producer.send("py-1", payload, "F32", [32, 32], [[0]])
            item = consumer.recv("py-1", timeout=1.0)
            self.assertEqual((item.id, item.chunk, item.dtype, item.shape, item.nbytes), ("py-1", 0, "F32", (32, 32), 4096))
            self.assertEqual(item.tobytes(), payload)
            self.assertTrue(item.memoryview.readonly)
            if numpy is not None:
                arr = item.numpy()
                self.assertEqual(arr.shape, (32, 32))
                self.assertEqual(arr.dtype, numpy.float32)
                self.assertFalse(arr.flags.writeable)
                self.assertEqual(arr.tobytes(), payload)
            consumer.mark_done(item)
            with self.assertRaises(SidecarTimeout):
                consumer.recv("py-1", timeout=0.05)
            stats = consumer.stats()
            self.assertEqual(stats["items_collected"], collected + 1)
            self.assertEqual(stats["arena_used_bytes"], 0)

    def test_recv_blocks_until_sent(self):
        with Sidecar(self.sock, 1) as consumer:
            def later():
                time.sleep(0.2)
                with Sidecar(self.sock, -1) as p:
                    p.send("py-late", b"\x01\x02", "U8", [2], [[1]], chunk=3)
            t = threading.Thread(target=later)
            t.start()
            item = consumer.recv("py-late", chunk=3, timeout=5.0)
            t.join()
            self.assertEqual(item.tobytes(), b"\x01\x02")
            consumer.mark_done("py-late", 3)

    def test_errors_are_exceptions_with_messages(self):
        with self.assertRaises(SidecarError) as e:
            Sidecar(os.path.join(self.dir, "missing.sock"), 0, timeout=0.1)
        self.assertIn("missing.sock", str(e.exception))
        with self.assertRaises(SidecarError) as e:
            Sidecar(self.sock, 5)  # a rank this sidecar does not serve
        self.assertIn("rank 5 is not in the sidecar registry", str(e.exception))
        with Sidecar(self.sock, -1) as producer:
            with self.assertRaises(SidecarError) as e:
                producer.send("bad", b"abc", "F32", [1], [[0]])
            self.assertIn("item 'bad' chunk 0: 3 bytes for a F32 tensor of 4 bytes", str(e.exception))
            with self.assertRaises(SidecarError) as e:
                producer.send("nobody", b"abcd", "F32", [1], [[9]])
            self.assertIn("receiver rank 9", str(e.exception))
        sc = Sidecar(self.sock, 0)
        sc.close()
        with self.assertRaises(SidecarError):
            sc.recv("x", timeout=0)


if __name__ == "__main__":
    unittest.main()
