"""Issue 14 end to end: what a client can make the server do, against real server processes.

The predictor returns the contents of the files it is given (`tests/runtime/http_fixtures/security`),
so a request that could make it read a server file would show that file in the response.
All traffic stays on 127.0.0.1; denied addresses are refused before any connection.
"""

from __future__ import annotations

import asyncio
import base64
import os
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from http_harness import Receiver, ServerProcess, free_port

ASYNC = {"Prefer": "respond-async"}
HOSTNAME = open("/etc/hostname").read().strip() if os.path.exists("/etc/hostname") else "\0"


@pytest.fixture(scope="module")
def origin():
    rec = Receiver().start()
    yield rec
    rec.stop()


@pytest.fixture()
def receiver():
    rec = Receiver().start()
    yield rec
    rec.stop()


@pytest.fixture(scope="module")
def srv():
    with ServerProcess("security") as server:
        server.wait_ready()
        yield server


def _one_line_422(reply, field: str = "f") -> dict:
    assert reply.status == 422, reply.body
    detail = reply.json["detail"]
    assert len(detail) == 1, detail
    item = detail[0]
    assert item["loc"][:3] == ["body", "input", field]
    assert f"input {field!r}" in item["msg"] and "data:, http: or https:" in item["msg"]
    assert "\n" not in item["msg"] and "Traceback" not in reply.body.decode()
    return item


def _clean_failure(reply) -> dict:
    """200 `failed` with a one-line error; no traceback and no path of cogkit's install in the logs."""
    assert reply.status == 200, reply.body
    body = reply.json
    assert body["status"] == "failed", body
    assert body["error"] and "\n" not in body["error"], body["error"]
    logs = body.get("logs") or ""
    assert "Traceback" not in logs and "cogkit/runtime" not in logs and "site-packages" not in logs, logs
    return body


# --------------------------------------------------------------------------- the issue's table
@pytest.mark.parametrize("value", ["/etc/passwd", "../../../../etc/hostname", "file:///etc/passwd", "ftp://x/y"])
def test_issue_table_paths_and_other_schemes_are_422(srv, value):
    item = _one_line_422(srv.call("POST", "/predictions", {"input": {"f": value}}))
    assert item["input"] == value
    assert srv.health()["status"] == "READY"


def test_issue_table_metadata_address_is_refused_before_connecting(srv):
    body = _clean_failure(srv.call("POST", "/predictions",
                                   {"input": {"f": "http://169.254.169.254/latest/meta-data/"}}))
    assert "169.254.169.254" in body["error"] and "denied network" in body["error"]


# ------------------------------------------------------------------------------ the bypasses
@pytest.mark.parametrize("value", [
    "/./etc/passwd", "//etc/passwd", "%2Fetc%2Fpasswd", "%66ile:///etc/passwd",
    "file%3A%2F%2F%2Fetc%2Fpasswd", "FILE:///etc/passwd", "File://localhost/etc/passwd", "FTP://x/y",
    " /etc/passwd", "\\etc\\passwd", "~/.bashrc", "/proc/self/environ", "http:/etc/passwd", "gopher://127.0.0.1:6379/_INFO",
])
def test_path_and_scheme_bypasses_are_422(srv, value):
    _one_line_422(srv.call("POST", "/predictions", {"input": {"f": value}}))


@pytest.mark.parametrize("field, body", [
    ("fs", {"f": "data:,ok", "fs": ["data:,a", "/etc/passwd"]}),
    ("maybe", {"f": "data:,ok", "maybe": "file:///etc/hostname"}),
])
def test_list_and_optional_file_inputs_follow_the_same_rule(srv, field, body):
    reply = srv.call("POST", "/predictions", {"input": body})
    item = _one_line_422(reply, field)
    if field == "fs":
        assert item["loc"] == ["body", "input", "fs", 1]


@pytest.mark.parametrize("value", [
    "http://[::ffff:169.254.169.254]/latest/", "HTTP://169.254.169.254/", "http://169.254.169.254.:80/",
    "http://2852039166/", "http://0xa9.0xfe.0xa9.0xfe/", "http://[fd00:ec2::254]/", "https://169.254.170.2/v2",
    "http://\u2460\u2465\u2468.\u2461\u2464\u2463.\u2460\u2465\u2468.\u2461\u2464\u2463/latest/",
    "http://169\u3002254\u3002169\u3002254/", "http://169.254.169.254\\@example.com/",
])
def test_denied_address_forms_fail_cleanly(srv, value):
    body = _clean_failure(srv.call("POST", "/predictions", {"input": {"f": value}}))
    assert "was refused" in body["error"], body["error"]


def test_uppercase_schemes_that_are_allowed_work(srv, origin):
    payload = base64.b64encode(b"upper data").decode()
    reply = srv.call("POST", "/predictions", {"input": {"f": f"DATA:text/plain;BASE64,{payload}"}})
    assert reply.json["status"] == "succeeded", reply.body
    assert reply.json["output"] == "upper data"
    reply = srv.call("POST", "/predictions", {"input": {"f": origin.url.replace("http", "HTTP") + "/up.txt"}})
    assert reply.json["status"] == "succeeded", reply.body
    assert reply.json["output"] == "ok"


@pytest.mark.parametrize("value", ["data:text/plain;base64,!!!not base64!!!", "data:text/plain;base64,aGk",
                                   "data:;base64,%%%%"])
def test_bad_base64_data_urls_fail_in_one_line(srv, value):
    reply = srv.call("POST", "/predictions", {"input": {"f": value}})
    if value.endswith("aGk"):  # missing padding only: accepted, as browsers do
        assert reply.json["status"] == "succeeded" and reply.json["output"] == "hi"
        return
    body = _clean_failure(reply)
    assert "base64" in body["error"]


def test_data_url_without_comma_is_422(srv):
    _one_line_422(srv.call("POST", "/predictions", {"input": {"f": "data:text/plain;base64"}}))


def test_server_keeps_answering_after_all_of_it(srv):
    reply = srv.call("POST", "/predictions", {"input": {"f": "data:,still%20here"}})
    assert reply.json["status"] == "succeeded" and reply.json["output"] == "still here"
    assert srv.health()["status"] == "READY"
    assert HOSTNAME not in reply.body.decode()


# ------------------------------------------------------- redirects, DNS, uploads, webhooks, limits
FAKE_DNS = str(Path(__file__).parent / "fake_dns")


class Origin:
    """A local file server on its own thread: plain files, redirects, a slow trickle, sizes."""

    def __init__(self) -> None:
        self.port = free_port()
        self.hits: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request):
        from aiohttp import web

        self.hits.append(request.path)
        path, query = request.path, request.query
        if path == "/redirect":
            return web.Response(status=int(query.get("status", "302")), headers={"Location": query["to"]})
        if path == "/loop":
            n = int(query.get("n", "0"))
            return web.Response(status=302, headers={"Location": f"/loop?n={n + 1}"})
        if path.startswith("/bytes/"):
            return web.Response(body=b"x" * int(path.rsplit("/", 1)[1]))
        if path == "/slow":
            resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
            await resp.prepare(request)
            for _ in range(40):
                await resp.write(b"s")
                await asyncio.sleep(0.25)
            return resp
        return web.Response(text=f"file at {path}")

    def __enter__(self) -> Origin:
        ready = threading.Event()

        def run() -> None:
            from aiohttp import web

            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="module")
def files_origin():
    with Origin() as org:
        yield org


@pytest.fixture(scope="module")
def dns_srv():
    """A server whose DNS maps metadata.test to 169.254.169.254 and model.test to 127.0.0.1."""
    env = {"PYTHONPATH": os.pathsep.join([FAKE_DNS, os.environ.get("PYTHONPATH", "")]),
           "COGKIT_TEST_FAKE_DNS": "metadata.test=169.254.169.254,model.test=127.0.0.1,"
                                   "mapped.test=::ffff:169.254.169.254",
           "COGKIT_MAX_REDIRECTS": "3"}
    with ServerProcess("security", env=env) as server:
        server.wait_ready()
        yield server


def test_redirects_to_denied_addresses_fail_cleanly(dns_srv, files_origin):
    base = files_origin.url
    for target in ("http://169.254.169.254/latest/meta-data/", "http://[::ffff:169.254.169.254]/",
                   "http://metadata.test/latest/", "file:///etc/passwd", "/etc/passwd"):
        for status in ("302", "307"):
            url = f"{base}/redirect?status={status}&to={quote(target, safe='')}"
            reply = dns_srv.call("POST", "/predictions", {"input": {"f": url}})
            if target == "/etc/passwd":  # a relative redirect stays on the origin: that is fine
                assert reply.json["status"] == "succeeded" and reply.json["output"] == "file at /etc/passwd"
                continue
            body = _clean_failure(reply)
            assert "refused" in body["error"], body["error"]


def test_hostnames_resolving_to_denied_addresses_fail_before_connecting(dns_srv, files_origin):
    port = files_origin.port
    for name in ("metadata.test", "mapped.test"):
        body = _clean_failure(dns_srv.call("POST", "/predictions", {"input": {"f": f"http://{name}:{port}/x"}}))
        assert f"{name} resolves to" in body["error"] and "denied network" in body["error"], body["error"]
    assert "/x" not in files_origin.hits
    reply = dns_srv.call("POST", "/predictions", {"input": {"f": f"http://model.test:{port}/named"}})
    assert reply.json["status"] == "succeeded" and reply.json["output"] == "file at /named"


def test_redirect_count_is_limited(dns_srv, files_origin):
    body = _clean_failure(dns_srv.call("POST", "/predictions", {"input": {"f": f"{files_origin.url}/loop"}}))
    assert "more than 3 redirects" in body["error"]


def test_deny_private_refuses_loopback_inputs_webhooks_and_uploads(files_origin):
    receiver = Receiver().start()
    try:
        with ServerProcess("security", "--deny-private",
                           "--upload-url", f"{receiver.url}/upload") as server:
            server.wait_ready()
            body = _clean_failure(server.call("POST", "/predictions",
                                              {"input": {"f": f"{files_origin.url}/a.txt"}}))
            assert "127.0.0.1" in body["error"] and "denied network (127.0.0.0/8)" in body["error"]
            body = _clean_failure(server.call("POST", "/predictions",
                                              {"input": {"f": f"http://localhost:{files_origin.port}/b"}}))
            assert "localhost resolves to" in body["error"]
            for field in ("webhook", "output_file_prefix"):
                reply = server.call("POST", "/predictions",
                                    {"input": {"f": "data:,x"}, field: f"{receiver.url}/h"})
                assert reply.status == 422, reply.body
                assert reply.json["detail"][0]["loc"] == ["body", field]
                assert "denied network" in reply.json["detail"][0]["msg"]
            assert not [h for h in files_origin.hits if h in ("/a.txt", "/b")]
            assert receiver.received == []
            assert server.health()["status"] == "READY"
    finally:
        receiver.stop()


def test_webhook_and_upload_to_denied_names_are_never_sent(dns_srv, receiver_for_dns):
    hook = f"http://metadata.test:{receiver_for_dns.port}/hook"
    reply = dns_srv.call("POST", "/predictions", {"input": {"f": "data:,x"}, "webhook": hook})
    assert reply.json["status"] == "succeeded"
    prefix = f"http://metadata.test:{receiver_for_dns.port}/pfx/"
    reply = dns_srv.call("POST", "/predictions", {"input": {"f": "data:,x"}, "output_file_prefix": prefix})
    assert reply.json["status"] == "succeeded", "a str output has no file to upload"
    for field, url in (("webhook", "http://169.254.169.254/hook"),
                       ("output_file_prefix", "http://[fd00:ec2::254]/")):
        reply = dns_srv.call("POST", "/predictions", {"input": {"f": "data:,x"}, field: url})
        assert reply.status == 422 and reply.json["detail"][0]["loc"] == ["body", field]
    time.sleep(1.0)
    assert receiver_for_dns.received == []
    assert "metadata.test resolves to 169.254.169.254" in dns_srv.output()


@pytest.fixture()
def receiver_for_dns():
    rec = Receiver().start()
    yield rec
    rec.stop()


def test_limits_on_download_size_time_and_file_count(files_origin):
    env = {"COG_MAX_INPUT_FILE_SIZE": "1000", "COGKIT_DOWNLOAD_TIMEOUT": "1", "COGKIT_MAX_INPUT_FILES": "3"}
    with ServerProcess("security", env=env) as server:
        server.wait_ready()
        base = files_origin.url
        ok = server.call("POST", "/predictions", {"input": {"f": f"{base}/bytes/1000"}})
        assert ok.json["status"] == "succeeded" and ok.json["output"] == "x" * 1000
        body = _clean_failure(server.call("POST", "/predictions", {"input": {"f": f"{base}/bytes/1001"}}))
        assert "larger than 1000 bytes" in body["error"]
        big = "data:;base64," + base64.b64encode(b"y" * 1001).decode()
        body = _clean_failure(server.call("POST", "/predictions", {"input": {"f": big}}))
        assert "larger than the limit of 1000 bytes" in body["error"]
        started = time.monotonic()
        body = _clean_failure(server.call("POST", "/predictions", {"input": {"f": f"{base}/slow"}}))
        assert "took longer than 1 s (COGKIT_DOWNLOAD_TIMEOUT)" in body["error"]
        assert time.monotonic() - started < 5
        reply = server.call("POST", "/predictions", {"input": {"f": "data:,a", "fs": ["data:,b"] * 3}})
        assert reply.status == 422 and reply.json["detail"][0]["type"] == "too_many_files"
        assert "4 file inputs in one request; the limit is 3" in reply.json["detail"][0]["msg"]
        ok = server.call("POST", "/predictions", {"input": {"f": "data:,a", "fs": ["data:,b"] * 2}})
        assert ok.json["output"] == "a|b|b"
        assert server.health()["status"] == "READY"


def test_limits_on_request_body_and_output_file_size(receiver):
    with ServerProcess("files", "--body-limit", "2000",
                       env={"COGKIT_MAX_OUTPUT_FILE_SIZE": "100"}) as server:
        server.wait_ready()
        reply = server.call("POST", "/predictions", {"input": {"file": "data:;base64," + "A" * 3000}})
        assert reply.status == 413 and "exceeds the limit of 2000 bytes" in reply.json["detail"]
        ok = server.call("POST", "/predictions", {"input": {"size": 100}})
        assert ok.json["status"] == "succeeded"
        for extra in ({}, {"output_file_prefix": f"{receiver.url}/pfx/"}):
            body = _clean_failure(server.call("POST", "/predictions", {"input": {"size": 101}, **extra}))
            assert "is 101 bytes, over the limit of 100 (COGKIT_MAX_OUTPUT_FILE_SIZE)" in body["error"]
        assert [r for r in receiver.received if r.path.startswith("/pfx/")] == []


def test_output_uploads_to_denied_names_fail_cleanly(receiver):
    env = {"PYTHONPATH": os.pathsep.join([FAKE_DNS, os.environ.get("PYTHONPATH", "")]),
           "COGKIT_TEST_FAKE_DNS": "metadata.test=169.254.169.254"}
    upload = f"http://metadata.test:{receiver.port}/upload"
    with ServerProcess("files", "--upload-url", upload, env=env) as server:
        server.wait_ready()
        prefix = f"http://metadata.test:{receiver.port}/pfx/"
        body = _clean_failure(server.call("POST", "/predictions",
                                          {"input": {"size": 3}, "output_file_prefix": prefix}))
        assert "refused: metadata.test resolves to 169.254.169.254" in body["error"], body["error"]
        pid = f"up-{time.monotonic_ns()}"
        reply = server.call("PUT", f"/predictions/{pid}",
                            {"input": {"size": 4}, "webhook": f"{receiver.url}/hook"}, headers=ASYNC)
        assert reply.status == 202
        final = receiver.wait_for(lambda bs: any(b.get("id") == pid and b["status"] == "failed" for b in bs))
        error = [b for b in final if b.get("id") == pid][-1]["error"]
        assert error.startswith("upload to http://metadata.test:") and "refused" in error
        assert "\n" not in error
        assert [r.path for r in receiver.received if r.method == "PUT"] == []
