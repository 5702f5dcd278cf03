"""Real frameworks behind ferricorn: Flask and Django, driven by requests and httpx."""

import hashlib
import io

import httpx
import pytest
import requests

from apps.app import pattern_bytes

TWENTY_MIB = 20 * 1024 * 1024


@pytest.fixture(scope="module")
def flask_srv(module_server_factory):
    return module_server_factory("flask_app:app", "-w", "2", "--threads", "2", boot_timeout=20)


@pytest.fixture(scope="module")
def django_srv(module_server_factory):
    return module_server_factory("djproj.wsgi:application", "-w", "2", boot_timeout=20)


@pytest.fixture(scope="module")
def upload_file():
    data = pattern_bytes(TWENTY_MIB)
    return data, hashlib.sha256(data).hexdigest()


# -- Flask -----------------------------------------------------------------------------

def test_flask_index(flask_srv):
    r = requests.get(flask_srv.url("/"), timeout=10)
    assert r.status_code == 200 and r.text == "flask index"
    assert r.headers["Server"]


def test_flask_routing_and_query(flask_srv):
    r = requests.get(flask_srv.url("/hello/w%C3%B6rld"), params={"q": "a b"}, timeout=10)
    assert r.status_code == 200
    assert r.json() == {"hello": "w\u00f6rld", "q": "a b"}


def test_flask_404(flask_srv):
    r = requests.get(flask_srv.url("/nope"), timeout=10)
    assert r.status_code == 404


def test_flask_500_no_traceback(flask_srv):
    r = requests.get(flask_srv.url("/error"), timeout=10)
    assert r.status_code == 500
    assert "Traceback" not in r.text
    assert "flask-error-marker" not in r.text


def test_flask_form_post(flask_srv):
    r = requests.post(flask_srv.url("/form"), data={"name": "Zo\u00e9", "n": "1"}, timeout=10)
    assert r.json() == {"name": "Zo\u00e9", "n": "1"}


def test_flask_json_post_httpx(flask_srv):
    with httpx.Client(timeout=10) as client:
        r = client.post(flask_srv.url("/json"), json={"a": [1, 2, 3]})
    assert r.status_code == 200 and r.json() == {"received": {"a": [1, 2, 3]}}


def test_flask_upload_20mib(flask_srv, upload_file):
    data, digest = upload_file
    r = requests.post(flask_srv.url("/upload"), files={"file": ("big.bin", io.BytesIO(data))},
                      data={"field": "v"}, timeout=60)
    assert r.status_code == 200, r.text[:500]
    assert r.json() == {"filename": "big.bin", "len": len(data), "sha256": digest, "field": "v"}


def test_flask_raw_chunked_upload(flask_srv):
    data = pattern_bytes(3 * 1024 * 1024)

    def gen():
        for i in range(0, len(data), 100_000):
            yield data[i:i + 100_000]

    r = requests.put(flask_srv.url("/raw"), data=gen(), timeout=60)  # generator -> chunked
    assert r.json() == {"len": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_flask_streaming_response(flask_srv):
    with requests.get(flask_srv.url("/stream?n=2000"), stream=True, timeout=20) as r:
        assert r.status_code == 200
        assert r.headers.get("Transfer-Encoding") == "chunked"
        text = b"".join(r.iter_content(4096)).decode()
    assert text == "".join("line %d\n" % i for i in range(2000))


def test_flask_keep_alive_session(flask_srv):
    with httpx.Client(timeout=10) as client:
        results = [client.get(flask_srv.url("/hello/n%d" % i)).json()["hello"] for i in range(20)]
    assert results == ["n%d" % i for i in range(20)]


def test_flask_head(flask_srv):
    r = requests.head(flask_srv.url("/"), timeout=10)
    assert r.status_code == 200 and r.content == b""
    assert r.headers["Content-Length"] == str(len("flask index"))


# -- Django -----------------------------------------------------------------------------------

def test_django_index(django_srv):
    r = requests.get(django_srv.url("/"), timeout=10)
    assert r.status_code == 200 and r.text == "django index"


def test_django_routing(django_srv):
    r = requests.get(django_srv.url("/hello/bob/"), params={"q": "x&y"}, timeout=10)
    assert r.json() == {"hello": "bob", "q": "x&y"}


def test_django_append_slash_redirect(django_srv):
    r = requests.get(django_srv.url("/hello/bob"), allow_redirects=False, timeout=10)
    assert r.status_code == 301
    assert r.headers["Location"].endswith("/hello/bob/")


def test_django_404(django_srv):
    assert requests.get(django_srv.url("/missing/"), timeout=10).status_code == 404


def test_django_form_post(django_srv):
    r = requests.post(django_srv.url("/form/"), data={"a": "1", "b": "deux"}, timeout=10)
    assert r.status_code == 200
    assert r.json() == {"a": "1", "b": "deux"}


def test_django_upload_20mib(django_srv, upload_file):
    data, digest = upload_file
    r = requests.post(django_srv.url("/upload/"), files={"file": ("big.bin", io.BytesIO(data))},
                      data={"field": "w"}, timeout=60)
    assert r.status_code == 200, r.text[:500]
    assert r.json() == {"filename": "big.bin", "len": len(data), "sha256": digest, "field": "w"}


def test_django_raw_body_httpx(django_srv):
    data = pattern_bytes(1_000_000)
    with httpx.Client(timeout=30) as client:
        r = client.post(django_srv.url("/raw/"), content=data)
    assert r.json() == {"len": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_django_streaming_response(django_srv):
    with requests.get(django_srv.url("/stream/?n=3000"), stream=True, timeout=20) as r:
        assert r.status_code == 200
        assert "Content-Length" not in r.headers
        text = b"".join(r.iter_content(8192)).decode()
    assert text == "".join("line %d\n" % i for i in range(3000))


def test_django_meta(django_srv):
    r = requests.get(django_srv.url("/meta/"), headers={"Host": "example.test:8080"}, timeout=10)
    assert r.json() == {"path": "/meta/", "path_info": "/meta/", "script_name": "", "host": "example.test:8080",
                        "method": "GET", "scheme": "http"}


def test_django_concurrent_clients(django_srv):
    import concurrent.futures

    def one(i):
        with httpx.Client(timeout=20) as client:
            return [client.get(django_srv.url("/hello/c%d-%d/" % (i, j))).json()["hello"] for j in range(10)]

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        results = list(ex.map(one, range(8)))
    assert results == [["c%d-%d" % (i, j) for j in range(10)] for i in range(8)]
