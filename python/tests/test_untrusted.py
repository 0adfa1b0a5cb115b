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
