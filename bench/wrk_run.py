"""Run wrk (a C load generator, `apt-get install wrk`) with a Lua script; parse its result.

Every script ends with the same `done()`, which prints one `RESULT {...}` JSON line:
requests, duration, latency percentiles, socket errors, and counts per HTTP status (and per
API error code for statuses >= 400) collected by the threads' `response()` when the
script defines one. Throughput and latency are wrk's own; the Python side only reads them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Shared by every script: thread numbering (setup), per-status counting, the RESULT line.
COMMON = r"""
local threads = {}
local next_tid = 1
function setup(thread)
  thread:set("tid", next_tid)
  table.insert(threads, thread)
  next_tid = next_tid + 1
end

codes = {}
exhausted = 0
function count(status, body)
  local key = tostring(status)
  if status >= 400 then
    local code = body and string.match(body, '"code":"([^"]*)"')
    key = key .. ":" .. (code or "?")
  end
  codes[key] = (codes[key] or 0) + 1
end

function done(summary, latency, requests)
  local merged, spare = {}, 0
  for _, t in ipairs(threads) do
    local c = t:get("codes")
    if c then
      for k, v in pairs(c) do merged[k] = (merged[k] or 0) + v end
    end
    spare = spare + (t:get("exhausted") or 0)
  end
  local parts = {}
  for k, v in pairs(merged) do table.insert(parts, string.format('"%s":%d', k, v)) end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"exhausted":%d,"codes":{%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout,
    spare, table.concat(parts, ",")))
end
"""

# POST with an empty body (a Restate handler without input).
POST_EMPTY = r"""
wrk.method = "POST"
"""

# Joins of one drop's waiting room, each from its own device and (forwarded) network.
# args: path, run tag
JOINS = r"""
local path, tag, n
function init(args)
  path, tag, n = args[1], args[2], 0
end
function request()
  n = n + 1
  local ip = string.format("%d.%d.%d.%d", 20 + tid, math.floor(n / 65536) % 256,
    math.floor(n / 256) % 256, n % 256)
  local body = string.format('{"fingerprint":"wrk-%s-%d-%d"}', tag, tid, n)
  return wrk.format("POST", path,
    {["Content-Type"] = "application/json", ["X-Forwarded-For"] = ip}, body)
end
function response(status, headers, body)
  count(status, body)
end
"""

# GET wrk.path, each request from its own forwarded IP (past the per-IP rate limits).
UNIQUE_IP_GET = r"""
local n = 0
function request()
  n = n + 1
  local ip = string.format("%d.%d.%d.%d", 40 + tid, math.floor(n / 65536) % 256,
    math.floor(n / 256) % 256, n % 256)
  return wrk.format("GET", wrk.path, {["X-Forwarded-For"] = ip})
end
function response(status, headers, body)
  count(status, body)
end
"""

# Pre-built registrations, one per line `ip<TAB>json body`; thread t of T sends lines
# t, t+T, t+2T, ... once each. A thread that runs out stops (at most one /health per
# connection is sent while it stops, never a registration twice).
# args: path, file, thread count
REGISTRATIONS = r"""
local path, mine, at = nil, {}, 0
function init(args)
  path = args[1]
  local total = tonumber(args[3])
  local i = 0
  for line in io.lines(args[2]) do
    if i % total == tid - 1 then
      local tab = string.find(line, "\t", 1, true)
      table.insert(mine, {string.sub(line, 1, tab - 1), string.sub(line, tab + 1)})
    end
    i = i + 1
  end
end
function request()
  at = at + 1
  local one = mine[at]
  if one == nil then
    exhausted = 1
    wrk.thread:stop()
    return wrk.format("GET", "/health")
  end
  return wrk.format("POST", path,
    {["Content-Type"] = "application/json", ["X-Forwarded-For"] = one[1]}, one[2])
end
function response(status, headers, body)
  if exhausted == 1 and string.find(body, '"service":"api"', 1, true) then
    return  -- the /health sent while stopping is not a registration
  end
  count(status, body)
end
"""

# GET a random path from a list: args: file of paths, one a line.
RANDOM_PATHS = r"""
local paths = {}
function init(args)
  for line in io.lines(args[1]) do table.insert(paths, line) end
  math.randomseed(tid * 7919 + os.time())
end
function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
function response(status, headers, body)
  count(status, body)
end
"""


@dataclass(frozen=True)
class WrkResult:
    name: str
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: dict[str, int]
    non_2xx: int
    exhausted: int
    codes: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def ok(self) -> int:
        """2xx answers counted by the script (all requests when it counts nothing)."""
        if not self.codes:
            return self.requests - self.non_2xx
        return sum(n for k, n in self.codes.items() if k.startswith("2"))

    def line(self) -> str:
        errors = {k: v for k, v in self.socket_errors.items() if v}
        bad = {k: v for k, v in self.codes.items() if not k.startswith("2")}
        return (
            f"{self.name:<44} {self.rate:9.1f}/s  p50 {self.p50_ms:7.1f} ms  "
            f"p99 {self.p99_ms:7.1f} ms  n={self.requests}"
            + (f"  non-2xx {self.non_2xx} {bad or ''}" if self.non_2xx or bad else "")
            + (f"  socket errors {errors}" if errors else "")
        )


def available() -> bool:
    return shutil.which("wrk") is not None


def run(
    name: str,
    url: str,
    *,
    script: str = "",
    args: tuple[str, ...] = (),
    seconds: float = 5,
    connections: int = 50,
    threads: int = 2,
    timeout_s: int = 30,
) -> WrkResult:
    """wrk against `url` (its path is wrk.path) for `seconds` at `connections`."""
    if not available():
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(COMMON + script)
        lua = Path(f.name)
    try:
        cmd = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            f"{timeout_s}s",
            "--latency",
            "-s",
            str(lua),
            url,
        ]
        if args:
            cmd += ["--", *args]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    finally:
        lua.unlink(missing_ok=True)
    found = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    if not found:
        raise RuntimeError(f"wrk gave no result: {out.stdout}\n{out.stderr}")
    raw: dict[str, Any] = json.loads(found[-1].removeprefix("RESULT "))
    non_2xx = raw["status"]
    codes = {str(k): int(v) for k, v in raw["codes"].items()}
    if codes:
        non_2xx = sum(n for k, n in codes.items() if not k.startswith("2"))
    return WrkResult(
        name=name,
        requests=int(raw["requests"]),
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        socket_errors={k: int(raw[k]) for k in ("connect", "read", "write", "timeout")},
        non_2xx=int(non_2xx),
        exhausted=int(raw["exhausted"]),
        codes=codes,
    )
