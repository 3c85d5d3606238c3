"""`hrm serve`: the HTTP API (answers and refusals, the server staying up) and the page driven in headless Chromium."""

import http.client
import json
import os
import queue
import re
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from tiny_checkpoint import make_checkpoint, make_data, tiny_trm

from hrmkit.cli import main

START_SECONDS = 120  # importing torch on a loaded 2-core machine can take a while


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("data") / "s4")


@pytest.fixture(scope="module")
def run(data, tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("runs") / "trm", data, tiny_trm())


def start_server(args: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """`hrm serve ... --port 0` in a subprocess; the URL it prints once it listens."""
    proc = subprocess.Popen([sys.executable, "-u", "-m", "hrmkit.cli", "serve", *args, "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    seen, deadline = [], time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        if m := re.search(r"serving on (http://\S+/)", line):
            return proc, m.group(1)
    stop_server(proc)
    raise AssertionError("hrm serve did not start:\n" + "".join(seen))


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def server(run):
    proc, url = start_server([str(run), "--examples", "3"])
    try:
        yield proc, url
    finally:
        stop_server(proc)


def request(url: str, body: bytes | None = None, content_type: str = "application/json", method: str | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": content_type} if body is not None else {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def solve_api(url: str, puzzle: str, segments: int) -> dict:
    status, body = request(url + "api/solve", json.dumps({"puzzle": puzzle, "segments": segments}).encode())
    assert status == 200, body
    return body


def test_info_and_solve(server):
    _, url = server
    status, info = request(url + "api/info")
    assert status == 200 and info["task"] == "sudoku" and info["grid_shape"] == [4, 4] and info["halt_rule"] == "q_halt > 0"
    assert info["max_segments"] == 64 and [e["name"] for e in info["examples"]] == ["test #0", "test #2", "test #5"]
    assert info["input_hint"] == "one row per line; . for a blank" and info["controls"] == [] and not info["whole_task"]
    body = solve_api(url, info["examples"][0]["text"], 5)  # more segments than training's 2
    assert [s["segment"] for s in body["segments"]] == [1, 2, 3, 4, 5] and body["halt_max_steps"] == 2
    previous = body["puzzle"]
    for s in body["segments"]:
        assert len(s["cells"]) == 16 and 0 <= s["p_halt"] <= 1 and s["q_continue"] is None and s["valid"] in (True, False)
        assert s["changed"] == [i for i in range(16) if s["cells"][i] != previous[i]]
        previous = s["cells"]
    assert body["decision"].startswith("the halting rule (q_halt > 0) never fired")  # untrained heads: q_halt = -5
    status, old = request(url + "api/solve", json.dumps({"puzzle": info["examples"][0]["text"], "steps": 3}).encode())
    assert status == 200 and len(old["segments"]) == 3  # "steps", the old name of "segments", is still read


MAZE = "#########\n#S    # #\n# ### # #\n#   #   #\n### # ###\n#   #  G#\n# ##### #\n#       #\n#########"
BAD = [
    ("wrong length", {"puzzle": "1.2.3", "segments": 2}, 400, "bad puzzle: expected 81 cells (or 16 or 36), got 5"),
    ("illegal character", {"puzzle": "1.2x" + "." * 12, "segments": 2}, 400, "bad puzzle: invalid character 'x' at cell 4"),
    ("digit out of range", {"puzzle": "9" + "." * 15, "segments": 2}, 400, "out of range 1..4"),
    ("grid larger than the model's", {"puzzle": "." * 81, "segments": 2}, 400, "this model solves 4x4 Sudoku, got 9x9"),
    ("a maze for a sudoku model", {"puzzle": MAZE, "segments": 2}, 400, "this model solves sudoku puzzles; that looks like a maze puzzle"),
    ("segments 0", {"puzzle": "." * 16, "segments": 0}, 400, "segments must be at least 1, got 0"),
    ("segments -3", {"puzzle": "." * 16, "segments": -3}, 400, "segments must be at least 1, got -3"),
    ("steps 0 (the old name)", {"puzzle": "." * 16, "steps": 0}, 400, "segments must be at least 1, got 0"),
    ("segments and steps both", {"puzzle": "." * 16, "segments": 2, "steps": 2}, 400, 'give "segments" (or its old name "steps"), not both'),
    ("segments absurd", {"puzzle": "." * 16, "segments": 10**9}, 400, "segments must be at most 64 on this server"),
    ("segments not a number", {"puzzle": "." * 16, "segments": "many"}, 400, "segments must be a whole number, got 'many'"),
    ("no puzzle", {"segments": 2}, 400, 'give the puzzle as text in "puzzle"'),
    ("not an object", [1, 2], 400, "send a JSON object {\"puzzle\": TEXT, \"segments\": N}, not a JSON array"),
    ("segments a float", {"puzzle": "." * 16, "segments": 2.0}, 400, "segments must be a whole number, got 2.0"),
    ("segments a bool", {"puzzle": "." * 16, "segments": True}, 400, "segments must be a whole number, got True"),
    ("segments 1e400", {"puzzle": "." * 16, "segments": float("inf")}, 400, "segments must be a whole number, got inf"),
    ("a puzzle of megabytes' worth", {"puzzle": "1" * 60000}, 400, "bad puzzle: expected 81 cells (or 16 or 36), got 60000"),
]


@pytest.mark.parametrize(("name", "body", "status", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_requests_get_4xx_with_a_message(server, name, body, status, message):
    proc, url = server
    got, answer = request(url + "api/solve", json.dumps(body).encode())
    assert got == status and message in answer["error"], answer
    assert proc.poll() is None and request(url + "api/info")[0] == 200  # still serving


DIGITS = b"9" * 4000  # within Python's 4300-digit limit on reading integers
RAW_BAD = [  # bodies json.dumps would not write, and what a careless client sends
    ("nested 30000 deep", b"[" * 30000 + b"]" * 30000, "application/json", "request body: not valid JSON (nested too deeply)"),
    ("not UTF-8", b'{"puzzle": "\xff"}', "application/json", "request body: not valid JSON (byte 0xff at offset 12 is not UTF-8)"),
    ("a number of 5000 digits", b'{"segments": ' + b"9" * 5000 + b"}", "application/json",
     "request body: not valid JSON (a number too long to read)"),
    ("wrong content type", b'{"puzzle": "1..."}', "text/plain",
     'send a JSON object {"puzzle": TEXT, "segments": N} with Content-Type: application/json (got \'text/plain\')'),
    ("segments nested 900 deep", b'{"segments": ' + b"[" * 900 + b"]" * 900 + b"}", "application/json",
     "segments must be a whole number, got [[[[...]]]]"),
    ("segments of 4000 digits", b'{"puzzle": "' + b"." * 16 + b'", "segments": ' + DIGITS + b"}", "application/json",
     "segments must be at most 64 on this server (hrm serve --max-segments), got 999999999999999999...9999999999999999999"),
    ("segments a 60 KB string", b'{"segments": "' + b"x" * 60000 + b'"}', "application/json",
     "segments must be a whole number, got 'xxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxx'"),
]


@pytest.mark.parametrize(("name", "body", "content_type", "message"), RAW_BAD, ids=[b[0] for b in RAW_BAD])
def test_malformed_bodies_get_a_one_line_400(server, name, body, content_type, message):
    proc, url = server
    status, answer = request(url + "api/solve", body, content_type)
    assert status == 400 and answer["error"] == message, answer
    assert proc.poll() is None and request(url + "api/info")[0] == 200


def test_malformed_and_huge_bodies_and_unknown_paths(server):
    proc, url = server
    assert request(url + "api/solve", b"{not json")[0] == 400
    assert request(url + "api/solve", b'{"puzzle": "1..."}', content_type="text/plain")[0] == 400
    status, answer = request(url + "api/solve", b'{"puzzle": "' + b"." * (2 << 20) + b'"}')
    assert status == 413 and answer["error"] == "request body too large (at most 64 KiB)"
    assert request(url + "static/../serve.py")[0] == 404 and request(url + "nothing")[0] == 404
    status, answer = request(url + "api/solve", b"{}", method="BREW")
    assert status == 405 and "not allowed" in answer["error"]
    assert proc.poll() is None and solve_api(url, "." * 16, 1)["segments"]


def test_the_page_loads_nothing_from_elsewhere(server):
    _, url = server
    with urllib.request.urlopen(url) as r:
        csp = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    static = Path(__file__).parents[1] / "src" / "hrmkit" / "static"
    for file in static.iterdir():
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", file.read_text()), f"{file.name} names another host"


def test_serve_refuses_a_dataset_of_another_task_and_bad_options(run, tmp_path, capsys):
    maze = make_data(tmp_path / "m", "maze-9x9", train=2, test=2)
    assert main(["serve", str(run), "--dataset", str(maze)]) == 2
    err = capsys.readouterr().err
    assert "is a maze dataset; this model was trained on sudoku" in err and err.count("\n") == 1
    assert main(["serve", str(run), "--port", "-1"]) == 2
    assert capsys.readouterr().err.strip() == "error: --port must be at least 0, got -1"
    assert main(["serve", str(tmp_path / "none")]) == 2
    assert "no such checkpoint or run folder" in capsys.readouterr().err


def test_info_carries_the_maze_tasks_own_hint_and_no_controls(tmp_path):
    from hrmkit import serve

    maze = make_data(tmp_path / "m", "maze-9x9", train=2, test=2)
    run = make_checkpoint(tmp_path / "run", maze, tiny_trm())
    info = serve.create_app(serve.open_session(run, examples=1)).test_client().get("/api/info").get_json()
    assert info["task"] == "maze" and info["input_hint"] == "one row per line; # wall, space open, S start, G goal"
    assert info["controls"] == [] and info["max_segments"] == 64 and len(info["examples"]) == 1


def test_the_library_serve_takes_max_segments_or_its_old_name(run, monkeypatch):
    from hrmkit import serve
    from hrmkit.errors import HrmError

    with pytest.raises(HrmError, match=r"^give max_segments \(or its old name max_steps\), not both$"):
        serve.serve(run, port=0, max_segments=5, max_steps=5)
    for bad in ({"max_segments": 0}, {"max_steps": 0}):
        with pytest.raises(HrmError, match="^max_segments must be at least 1, got 0$"):
            serve.serve(run, port=0, **bad)
    with pytest.raises(HrmError, match="^max_segments must be at least 1, got 0$"):
        serve.open_session(run, max_segments=0)

    class Opened(Exception):
        pass

    limits = []

    def open_session(path, **settings):
        limits.append(settings["max_segments"])
        raise Opened  # stop before serving for ever

    monkeypatch.setattr(serve, "open_session", open_session)
    for given in ({"max_segments": 5}, {"max_steps": 7}, {}):
        with pytest.raises(Opened):
            serve.serve(run, port=0, **given)
    assert limits == [5, 7, None]


# --------------------------------------------------------------------------- the server: slow clients, chunked bodies, ports


QUICK_TIMEOUT = 1.0  # seconds; `hrm serve` uses serve.READ_TIMEOUT_SECONDS (20)
CUT_OFF_WITHIN = 30.0  # a generous bound on the server closing a connection it should close after QUICK_TIMEOUT


@pytest.fixture(scope="module")
def quick_server(run):
    """`hrm serve`'s server in this process, with a 1 s deadline on reading a request, so that cutting off a slow
    client is seen in seconds."""
    from hrmkit import serve

    server = serve.listen(serve.create_app(serve.open_session(run, examples=0)), "127.0.0.1", 0, read_timeout=QUICK_TIMEOUT)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/", server.server_port
    finally:
        server.shutdown()
        server.server_close()


def read_until_closed(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends before it closes the connection, and the seconds that took (inf: it did not
    close within CUT_OFF_WITHIN)."""
    start, data = time.monotonic(), b""
    sock.settimeout(CUT_OFF_WITHIN)
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        return data, float("inf")
    except ConnectionResetError:
        pass
    return data, time.monotonic() - start


def test_a_body_announced_and_never_sent_is_cut_off_while_others_are_answered(quick_server):
    url, port = quick_server
    with socket.create_connection(("127.0.0.1", port)) as stalled:
        stalled.sendall(b"POST /api/solve HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
        assert request(url + "api/info")[0] == 200 and solve_api(url, "." * 16, 1)["segments"]  # while that one waits
        answer, seconds = read_until_closed(stalled)
    assert seconds < CUT_OFF_WITHIN, "the server held a connection whose body never came"
    assert answer.startswith(b"HTTP/1.1 400") and b"request body incomplete" in answer
    assert request(url + "api/info")[0] == 200


def test_a_request_trickled_a_byte_at_a_time_is_cut_off_at_the_deadline(quick_server):
    """A slow-loris: each byte comes well within the timeout, the whole request never does."""
    _, port = quick_server
    with socket.create_connection(("127.0.0.1", port)) as slow:
        slow.sendall(b"GET /api/info HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        start, closed = time.monotonic(), False
        while not closed and time.monotonic() - start < CUT_OFF_WITHIN:
            try:
                slow.sendall(b"x")
                closed = bool(select.select([slow], [], [], 0.2)[0]) and slow.recv(1) == b""  # readable: the server's FIN
            except OSError:  # reset: the server closed it
                closed = True
    assert closed, "a client sending a byte every 0.2 s held its connection past the deadline"


def post_chunked(url: str, body: bytes, chunk: int = 4096) -> tuple[int, dict]:
    """POST /api/solve with Transfer-Encoding: chunked (no Content-Length)."""
    where = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=60)
    try:
        conn.request("POST", "/api/solve", body=(body[i:i + chunk] for i in range(0, len(body), chunk)),
                     headers={"Content-Type": "application/json"})
        answer = conn.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        conn.close()


def test_a_chunked_body_over_the_limit_gets_the_same_413(server):
    proc, url = server
    too_large = b'{"puzzle": "' + b"." * (200 << 10) + b'"}'
    assert post_chunked(url, too_large) == request(url + "api/solve", too_large) == (413, {"error": "request body too large (at most 64 KiB)"})
    exact = b'{"puzzle": "' + b"." * 16 + b'", "segments": 1}'
    exact += b" " * (64 * 1024 - len(exact))  # a body of exactly the limit is taken, one byte more is not
    status, answer = post_chunked(url, exact)
    assert status == 200 and len(answer["segments"]) == 1
    assert post_chunked(url, exact + b" ")[0] == 413 and request(url + "api/solve", exact + b" ")[0] == 413
    assert proc.poll() is None


@pytest.mark.parametrize("port", ["65536", "70000"])
def test_serve_refuses_a_port_out_of_range_before_loading_the_model(port, tmp_path, capsys):
    assert main(["serve", str(tmp_path / "no-such-run"), "--port", port]) == 2  # the port is told, not the missing run
    assert capsys.readouterr().err == f"error: --port must be at most 65535, got {port}\n"


def test_serve_says_in_one_line_when_it_cannot_listen(tmp_path, capsys):
    from hrmkit import serve
    from hrmkit.errors import HrmError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", str(tmp_path / "no-such-run"), "--port", str(port)]) == 2  # before the model loads
        assert capsys.readouterr().err == f"error: cannot listen on 127.0.0.1:{port} (Address already in use)\n"
    assert main(["serve", str(tmp_path / "no-such-run"), "--host", "192.0.2.1", "--port", "0"]) == 2  # TEST-NET-1: no address here
    assert capsys.readouterr().err == "error: cannot listen on 192.0.2.1:0 (Cannot assign requested address)\n"
    with pytest.raises(HrmError, match=r"^port must be 0 \(any free port\) or 1..65535, got 70000$"):
        serve.listen(None, "127.0.0.1", 70000)  # the library refuses it too


# --------------------------------------------------------------------------- the page in a real browser


def chromium():
    """Headless Debian Chromium through its own chromedriver (no browser download: selenium-manager is not used)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    assert binary and driver, "the browser test needs chromium and chromedriver: apt-get install -y chromium chromium-driver (.ci/run does)"
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1300,900"):
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=Service(driver))


@contextmanager
def open_page(url: str):
    """The page in headless Chromium, loaded and ready (its /api/info read): (browser, a 60 s wait); closed after."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    browser = chromium()
    try:
        wait = WebDriverWait(browser, 60)
        browser.get(url)
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "body[data-ready=true]")))
        yield browser, wait
    finally:
        browser.quit()


def assert_no_task_file_controls(browser) -> None:
    """The whole-task controls (ARC's) are hidden: in the page, not displayed, though their class sets a display."""
    from selenium.webdriver.common.by import By

    for box in ("task-file", "variants-control"):
        element = browser.find_element(By.ID, box)
        assert element.get_attribute("hidden") is not None and element.get_attribute("class") == "column"
        assert not element.is_displayed() and element.value_of_css_property("display") == "none", box


def test_the_page_solves_a_picked_puzzle_and_shows_errors(server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.select import Select

    _, url = server
    info = request(url + "api/info")[1]
    with open_page(url) as (browser, wait):
        assert browser.find_element(By.ID, "blank-hint").text == "one row per line; . for a blank"
        assert_no_task_file_controls(browser)
        Select(browser.find_element(By.ID, "examples")).select_by_visible_text("test #2")
        puzzle = browser.find_element(By.ID, "puzzle").get_property("value")
        assert puzzle == info["examples"][1]["text"]
        steps = browser.find_element(By.ID, "steps")
        steps.send_keys(Keys.CONTROL, "a")
        steps.send_keys("3")
        assert browser.find_element(By.ID, "steps-slider").get_property("value") == "3"
        browser.find_element(By.ID, "solve").click()
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "body[data-state=solved]")))

        expected = solve_api(url, puzzle, 3)

        def shown() -> tuple[list[str], int]:
            cells = browser.find_elements(By.CSS_SELECTOR, "#grid td")
            return [c.get_attribute("data-cell") for c in cells], sum("changed" in c.get_attribute("class") for c in cells)

        assert browser.find_element(By.ID, "segment-title").text == "segment 3 of 3"
        assert shown() == (expected["segments"][2]["cells"], len(expected["segments"][2]["changed"]))
        assert "P(halt) 0.01" in browser.find_element(By.ID, "seginfo").text
        assert browser.find_element(By.ID, "verdict").text in ("answer valid by the rules ✓", "answer not valid ✗")
        assert len(browser.find_elements(By.CSS_SELECTOR, "#halt-chart .bar")) == 3
        assert browser.find_element(By.ID, "decision").text.startswith("The halting rule (q_halt > 0) never fired")
        browser.find_element(By.ID, "segment").send_keys(Keys.HOME)  # back to segment 1
        wait.until(EC.text_to_be_present_in_element((By.ID, "segment-title"), "segment 1 of 3"))
        assert shown() == (expected["segments"][0]["cells"], len(expected["segments"][0]["changed"]))

        box = browser.find_element(By.ID, "puzzle")
        box.clear()
        box.send_keys("12x")
        browser.find_element(By.ID, "solve").click()
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "body[data-state=error]")))
        assert browser.find_element(By.ID, "error").text == "bad puzzle: invalid character 'x' at cell 3"


# --------------------------------------------------------------------------- an ARC model: whole task files


@pytest.fixture(scope="module")
def arc_server(tmp_path_factory):
    from arc_fixtures import build_arc_dataset, toy_tasks

    data = build_arc_dataset(tmp_path_factory.mktemp("data") / "arc", toy_tasks(), num_aug=5, canvas=8)
    run = make_checkpoint(tmp_path_factory.mktemp("runs") / "arc", data, tiny_trm(puzzle_emb_ndim=32))
    # The subprocess learns the stand-in arc task (until the real one is built in) as a plug-in.
    env = dict(os.environ)
    proc, url = start_server([str(run), "--examples", "3"], env)
    try:
        yield proc, url
    finally:
        stop_server(proc)


def arc_solve(url: str, body: dict) -> tuple[int, dict]:
    return request(url + "api/solve", json.dumps(body).encode())


def test_arc_info_offers_held_out_tasks_and_solve_votes(arc_server):
    _, url = arc_server
    status, info = request(url + "api/info")
    assert status == 200 and info["task"] == "arc" and info["whole_task"] is True
    assert info["input_hint"] == 'a task as JSON, {"train": [...], "test": [...]}, or a held-out task id'
    assert info["controls"] == [{"kind": "task-file", "accept": ".json,application/json"}, {"kind": "variants", "maximum": 64, "default": 8}]
    assert [e["name"] for e in info["examples"]] == ["held-out task aa000001", "held-out task bb000002", "held-out task dd000004"]
    status, body = arc_solve(url, {"puzzle": info["examples"][1]["text"], "segments": 3, "variants": 4})
    assert status == 200, body
    assert body["kind"] == "arc" and body["known"] and body["matched"] == "bb000002" and body["protocol"] == "paper"
    assert len(body["variants"]) == 4 and body["variants"][0] == "bb000002" and body["variants_available"] == 6
    assert [d["input"] for d in body["demonstrations"]] == [[[1]], [[1, 1], [0, 1]]]
    assert [t["index"] for t in body["tests"]] == [0, 1] and body["tests"][0]["expected"] == [[2, 0, 2]]
    for t in body["tests"]:
        assert [s["segment"] for s in t["segments"]] == [1, 2, 3] and len(t["answers"]) <= 2
        assert sum(a["votes"] for a in t["answers"]) <= 4 and t["empty"] <= 4  # the top two of 4 variants' votes
        assert all(a["votes"] == t["empty"] for a in t["answers"] if a["grid"] == [])  # empty answers vote for the empty grid
        assert all(a["right"] in (True, False) and 0 <= a["p_halt"] <= 1 for a in t["answers"])

    status, by_id = arc_solve(url, {"puzzle": "cc000003", "segments": 1, "variants": 2, "index": 0})
    assert status == 200 and by_id["matched"] == "cc000003" and len(by_id["tests"]) == 1
    mystery = {"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[3, 3]]}]}
    status, unknown = arc_solve(url, {"puzzle": json.dumps(mystery), "segments": 1})
    assert status == 200 and not unknown["known"] and "never seen this task" in unknown["notes"][0]
    assert unknown["variants"] == ["<blank>"]
    padded = json.dumps(mystery) + " " * (200 * 1024)  # past the 64 KiB of a grid puzzle, within an ARC task's 1 MiB
    assert arc_solve(url, {"puzzle": padded, "segments": 1})[0] == 200


ARC_BAD = [
    ("invalid JSON", {"puzzle": "{nope", "segments": 1}, "not an ARC task: not valid JSON"),
    ("a sudoku for an ARC model", {"puzzle": "1..." * 4, "segments": 1}, "is neither an ARC task (JSON) nor a held-out task id"),
    ("a bad colour", {"puzzle": '{"train": [{"input": [[12]], "output": [[1]]}], "test": [{"input": [[1]]}]}', "segments": 1},
     "colours are integers 0..9"),
    ("no test inputs", {"puzzle": '{"train": [{"input": [[1]], "output": [[1]]}], "test": []}', "segments": 1}, "no test inputs"),
    ("variants 0", {"puzzle": "cc000003", "segments": 1, "variants": 0}, "variants must be a whole number from 1 to 64"),
    ("index past the tests", {"puzzle": "cc000003", "segments": 1, "index": 3}, "test input index must be in 0..0"),
    ("index not a number", {"puzzle": "cc000003", "segments": 1, "index": "all"}, "index must be a test input number or null"),
]


@pytest.mark.parametrize(("name", "body", "message"), ARC_BAD, ids=[b[0] for b in ARC_BAD])
def test_arc_bad_requests_get_one_line_4xx(arc_server, name, body, message):
    proc, url = arc_server
    status, answer = arc_solve(url, body)
    assert status == 400 and message in answer["error"] and "\n" not in answer["error"], answer
    assert proc.poll() is None


def test_arc_json_nested_100000_deep_gets_a_one_line_400(arc_server):
    proc, url = arc_server
    deep = "[" * 100000 + "]" * 100000  # 200 KB: within an ARC server's 1 MiB
    status, answer = request(url + "api/solve", deep.encode())
    assert (status, answer) == (400, {"error": "request body: not valid JSON (nested too deeply)"})
    status, answer = arc_solve(url, {"puzzle": deep, "segments": 1})
    assert (status, answer) == (400, {"error": "not an ARC task: not valid JSON (nested too deeply)"})
    assert proc.poll() is None and request(url + "api/info")[0] == 200


def test_the_page_shows_an_arc_task_in_colour(arc_server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.select import Select

    _, url = arc_server
    with open_page(url) as (browser, wait):
        assert browser.find_element(By.ID, "task-file").is_displayed() and browser.find_element(By.ID, "variants-control").is_displayed()
        variants = browser.find_element(By.ID, "variants")
        assert (variants.get_property("value"), variants.get_property("max")) == ("8", "64")
        assert browser.find_element(By.ID, "upload").get_property("accept") == ".json,application/json"
        assert browser.find_element(By.ID, "blank-hint").text == 'a task as JSON, {"train": [...], "test": [...]}, or a held-out task id'
        Select(browser.find_element(By.ID, "examples")).select_by_visible_text("held-out task bb000002")
        steps = browser.find_element(By.ID, "steps")
        steps.send_keys(Keys.CONTROL, "a")
        steps.send_keys("2")
        browser.find_element(By.ID, "solve").click()
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "body[data-state=solved]")))
        assert browser.find_element(By.ID, "arc-output").is_displayed() and not browser.find_element(By.ID, "output").is_displayed()
        assert len(browser.find_elements(By.CSS_SELECTOR, "#arc-demos .pair")) == 2
        assert len(browser.find_elements(By.CSS_SELECTOR, "#arc-tests .test")) == 2
        first_demo = browser.find_elements(By.CSS_SELECTOR, "#arc-demos .pair table.arc")[0]
        cell = first_demo.find_element(By.CSS_SELECTOR, "td")
        assert cell.get_attribute("data-cell") == "1" and cell.value_of_css_property("background-color") == "rgba(0, 116, 217, 1)"
        assert "segment 2 of 2" in browser.find_element(By.ID, "arc-segment-shown").text
        browser.find_element(By.ID, "arc-segment").send_keys(Keys.HOME)
        wait.until(EC.text_to_be_present_in_element((By.ID, "arc-segment-shown"), "segment 1 of 2"))
        captions = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "#arc-test-0 figcaption")]
        assert captions[0] == "test input 0" and captions[1].startswith("segment 1: original variant")
        assert captions[-1] == "expected" and any(c.startswith("attempt 1:") for c in captions)

        box = browser.find_element(By.ID, "puzzle")
        box.clear()
        box.send_keys("{nope")
        browser.find_element(By.ID, "solve").click()
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "body[data-state=error]")))
        assert browser.find_element(By.ID, "error").text.startswith("not an ARC task: not valid JSON")


# --------------------------------------------------------------------------- a plug-in task's page


@pytest.fixture(scope="module")
def sort_server(tmp_path_factory):
    """A model of test_plugins.py's sort task (no input hint, no task solver), served by a process that loads that
    file as a plug-in."""
    import test_plugins  # noqa: F401  (registers the sort task in this process too, to build its dataset)

    data = make_data(tmp_path_factory.mktemp("data") / "sort", "sort-digits", train=16, test=4)
    run = make_checkpoint(tmp_path_factory.mktemp("runs") / "sort", data, tiny_trm())
    env = {**os.environ, "HRMKIT_PLUGINS": str(Path(__file__).with_name("test_plugins.py"))}
    proc, url = start_server([str(run), "--examples", "2"], env)
    try:
        yield proc, url
    finally:
        stop_server(proc)


def test_a_plug_in_tasks_page_shows_the_generic_hint_and_no_arc_controls(sort_server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

    _, url = sort_server
    info = request(url + "api/info")[1]
    assert info["task"] == "sort" and info["input_hint"] == "one row per line, one character per cell" and info["controls"] == []
    with open_page(url) as (browser, wait):
        assert browser.find_element(By.ID, "blank-hint").text == "one row per line, one character per cell"
        assert_no_task_file_controls(browser)
        puzzle = browser.find_element(By.ID, "puzzle").get_property("value")
        assert puzzle == info["examples"][0]["text"] and len(puzzle) == 6 and puzzle.isdigit()  # the first example, as the task's text
        browser.find_element(By.ID, "solve").click()
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "body[data-state=solved]")))
        assert browser.find_element(By.ID, "segment-title").text == "segment 2 of 2"  # the model's halt_max_steps
        expected = solve_api(url, puzzle, 2)["segments"][1]["cells"]
        assert [c.get_attribute("data-cell") for c in browser.find_elements(By.CSS_SELECTOR, "#grid td")] == expected
        assert not browser.find_element(By.ID, "arc-output").is_displayed()
