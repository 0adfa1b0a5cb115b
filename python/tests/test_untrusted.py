"""Untrusted input from Python (docs/security.md): ``bytes`` and file objects
are read only as the accepted containers, and nothing they name is opened. An
HLS playlist or ffconcat list naming a private clip of this machine by
``file:`` URL, path or a 127.0.0.1 URL raises ``relaxvqa.RefusedError`` (a
``DecodeError``, so a ``relaxvqa.Error``), and the loopback server it names
gets no request."""

import io
import socket
import subprocess
import threading

import pytest

import relaxvqa


@pytest.fixture()
def canary():
    """A TCP listener on 127.0.0.1 that counts connections."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.settimeout(0.2)
    hits = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            hits.append(1)
            conn.close()

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/", hits
    stop.set()
    t.join(timeout=5)
    sock.close()


def playlist(segment: str) -> bytes:
    return (f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:0.5,\n{segment}\n#EXT-X-ENDLIST\n").encode()


def test_playlists_from_bytes_and_files_are_refused(model, tmp_path, canary):
    url, hits = canary
    secret = tmp_path / "secret.ts"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "smptebars=size=64x64:rate=24",
                    "-frames:v", "12", "-c:v", "mpeg2video", str(secret)], check=True)
    attacks = {
        "hls-file-url": playlist(f"file:{secret}"),
        "hls-absolute": playlist(str(secret)),
        "hls-loopback": playlist(f"{url}secret.ts"),
        "ffconcat": f"ffconcat version 1.0\nfile '{secret}'\n".encode(),
        "ffconcat-loopback": f"ffconcat version 1.0\nfile '{url}secret.ts'\n".encode(),
    }
    for name, data in attacks.items():
        for obj in (data, io.BytesIO(data)):
            with pytest.raises(relaxvqa.RefusedError) as e:
                model.extract(obj, name=f"{name}.mp4")
            assert isinstance(e.value, relaxvqa.DecodeError) and isinstance(e.value, relaxvqa.Error)
            assert "playlists and manifests are not accepted: upload the media file itself" in str(e.value)
            assert str(secret) not in str(e.value)
    assert hits == [], "no request reached the loopback server"
    # The same clip's own bytes are a real video and extract.
    assert model.extract(secret.read_bytes()).shape == (relaxvqa.FEATURE_LEN,)


def png_bomb(path) -> bytes:
    """A 2 MB PNG of 16000x16000 16-bit RGBA: 2 GiB once decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    width = height = 16000
    z = zlib.compressobj(9)
    row = b"\0" * (1 + width * 8)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 6, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    path.write_bytes(data)
    return data


def test_a_png_bomb_is_refused_before_it_costs_memory(tmp_path):
    """``relaxvqa.extract(bytes)`` of the bomb raises ``LimitError``'s parent
    ``DecodeError`` naming the frame limit, in a process whose peak memory
    stays under 1 GiB (the decoder never allocates the frame; the model is
    not even loaded)."""
    import sys

    bomb = tmp_path / "bomb.png"
    png_bomb(bomb)
    code = (
        "import sys, relaxvqa\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "try:\n"
        "    relaxvqa.extract(data, weights='synthetic')\n"
        "    print('NOT REFUSED')\n"
        "except relaxvqa.DecodeError as e:\n"
        "    print(type(e).__name__, e)\n"
        # VmHWM: this process's own peak (ru_maxrss would also count the
        # memory of the pytest process it was forked from).
        "print('maxrss_kib', [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(bomb)], capture_output=True, text=True, timeout=120)
    print(out.stdout, out.stderr)
    assert out.returncode == 0, out.stderr
    assert "NOT REFUSED" not in out.stdout
    assert "max-pixels" in out.stdout
    rss = int(out.stdout.split("maxrss_kib")[1])
    print(f"peak RSS {rss / 1024:.0f} MiB")
    assert rss < 1 << 20, f"peak RSS {rss} KiB"


def test_untrusted_bytes_are_held_to_the_duration_limit(model, tmp_path):
    """Eleven minutes of a tiny video as bytes: ``LimitError`` (a
    ``DecodeError``) naming ``--max-duration``, before any frame is decoded."""
    clip = tmp_path / "long.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=gray:s=32x32:r=2", "-t", "660",
                    "-c:v", "libx264", "-preset", "ultrafast", str(clip)], check=True)
    with pytest.raises(relaxvqa.LimitError, match="max-duration") as e:
        model.extract(clip.read_bytes())
    print(e.value)
    assert isinstance(e.value, relaxvqa.DecodeError)
