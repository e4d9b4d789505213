"""Benchmark the service as the reception desk uses it: N scanner stations each post a dossier of
A4 pages at the same moment to `sohoa serve` (embedded defaults: SQLite, files on disk, the
worker inside the server); upload latency, end-to-end pages per minute beside `sohoa digitize`
on the same pages, the server's peak memory and failed queue. Several rounds, since one burst's
p95 is the second-slowest of 20 uploads and moves a lot from run to run."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from PIL import Image, ImageFont

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from digitize_bench import FONT, page_lines  # noqa: E402  (its administrative-form text, varied by seed)
from serving import SOHOA, free_port, proc_status, process_tree, start_server, stop_server, token  # noqa: E402

from pages import render_page  # noqa: E402
from service.settings import Settings  # noqa: E402

AGENCY = "000.00.12.H12"
TARGET_P95_MS = 300
TARGET_RATIO = 0.90
TARGET_BEHIND_RATIO = 2.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def make_dossiers(folder: Path, stations: int, pages: int, dpi: int, quality: int) -> list[Path]:
    """One multi-page JPEG-in-PDF per station, as a scanner station sends it; the text differs
    on every page (a seed per dossier), so no two dossiers are the same bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    font = ImageFont.truetype(FONT, round(14 / 72 * dpi))  # tests/pages.py renders 14 pt, 25 mm margins
    width = round(160 / 25.4 * dpi)
    dossiers = []
    for n in range(1, stations + 1):
        rng = random.Random(20250527 + n)
        images: list[Image.Image] = [
            render_page([text for text, _ in page_lines(rng, font, width)], dpi=dpi) for _ in range(pages)
        ]
        path = folder / f"ho-so-{n:02d}.pdf"
        # Pillow writes each RGB page as one DCTDecode image: what a scanner's "PDF (JPEG)" setting makes.
        images[0].save(path, "PDF", save_all=True, append_images=images[1:], resolution=dpi, quality=quality)
        dossiers.append(path)
    return dossiers


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def request_ms(log: Path, path_end: str, field: str = "ms") -> list[float]:
    """A time the server's JSON request log gives the requests to paths ending so: ``ms`` (its
    whole time) or ``after_body_ms`` (from the body's last byte to the answer)."""
    found = []
    for text in log.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError, AttributeError):  # uvicorn's own lines are not JSON objects
            entry = json.loads(text)
            if str(entry.get("path", "")).endswith(path_end) and field in entry:
                found.append(float(entry[field]))
    return found


@dataclass
class Station:
    code: str
    pdf: Path
    started: float = 0.0  # wall clock (time.time) at the upload's first byte
    upload_s: float = 0.0  # request start to the 202 answer (curl's time_total)
    status_code: int = 0
    job: str = ""
    status: str = ""
    finished: float = 0.0  # the job's finished_at, wall clock
    job_s: float = 0.0  # the job's own seconds (claim to done), from its result
    error: str = ""


def post(st: Station, base: str, token: str, raw: bool) -> tuple[int, float, str]:
    """One upload by a `curl` process: the stations are 20 other machines, not 20 threads that
    take turns at one Python interpreter's lock. Its status, seconds and answer."""
    url = f"{base}/api/v1/dossiers/{st.code}/scans"
    body = ["-H", "Content-Type: application/pdf", "-H", f"X-Filename: {st.pdf.name}", "--data-binary", f"@{st.pdf}"]
    form = ["-F", f"file=@{st.pdf};type=application/pdf"]
    cmd = ["curl", "-sS", "-H", f"Authorization: Bearer {token}", *(body if raw else form), url]
    proc = subprocess.run([*cmd, "-w", "\n%{http_code} %{time_total}"], capture_output=True, text=True)
    answer, _, status = proc.stdout.rpartition("\n")
    if proc.returncode != 0:
        raise OSError(f"curl exit {proc.returncode}: {proc.stderr.strip()[:200]}")
    code, seconds = status.split()
    return int(code), float(seconds), answer


def run_station(st: Station, base: str, token: str, go: threading.Barrier, opts: argparse.Namespace) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        go.wait()  # every station presses "send" at the same moment
        st.started = time.time()
        try:
            st.status_code, st.upload_s, answer = post(st, base, token, opts.raw)
        except OSError as e:
            st.error = f"upload: {e}"
            return
        if st.status_code != 202:
            st.error = f"upload: HTTP {st.status_code} {answer[:200]}"
            return
        st.job = json.loads(answer)["jobs"][0]["id"]
        if opts.accept_only:
            return
        deadline = time.monotonic() + opts.timeout
        while time.monotonic() < deadline:
            time.sleep(opts.poll)
            try:
                job = client.get(f"/api/v1/jobs/{st.job}").json()
            except httpx.HTTPError:
                continue  # a busy server may drop one poll; the next one asks again
            st.status = job["status"]
            if st.status in ("done", "failed"):
                st.finished = dt.datetime.fromisoformat(job["finished_at"]).timestamp()
                st.job_s = float((job.get("result") or {}).get("seconds") or 0.0)
                if st.status == "failed":
                    st.error = f"job: {job.get('error')}"
                return
        st.error = f"job {st.job} not finished after {opts.timeout:.0f} s (last status {st.status})"


def post_all(dossiers: list[Path], port: int, token: str, opts: argparse.Namespace, day: int = 0) -> list[Station]:
    """Every station posts its dossier at once; ``day`` moves the dossiers' date, so a later round
    posts the same files as new dossiers."""
    received = (dt.date(2025, 5, 27) + dt.timedelta(days=day)).strftime("%y%m%d")
    stations = [Station(f"{AGENCY}-{received}-{n:04d}", pdf) for n, pdf in enumerate(dossiers, start=1)]
    os.sync()  # the last phase's files reach the disk first, not during this burst's fsyncs,
    time.sleep(5)  # and the disk settles (here it stayed slower for seconds after a burst)
    go = threading.Barrier(len(stations))
    threads = [
        threading.Thread(target=run_station, args=(st, f"http://127.0.0.1:{port}", token, go, opts)) for st in stations
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return stations


def run_service(
    dossiers: list[Path], work: Path, env: dict[str, str], opts: argparse.Namespace
) -> tuple[list[list[Station]], int]:
    """``opts.rounds`` bursts against one `sohoa serve` (data dir from ``env``): the first on a server
    just started, each next one once the jobs of the one before are done, as a desk's day goes.
    The stations of each round, and the server's peak RSS summed over its processes (its RSS after
    each round is printed: memory that grows from round to round would show there)."""
    env = {**env, "SOHOA_SCANNER_CREATES_DOSSIERS": "true"}  # each station's scan makes its dossier, as before
    scanner = token(env, "Trạm quét", "scanner")
    port = free_port()
    server = start_server(env, port, work / "server.log")
    worker = None
    if opts.separate_worker:
        with (work / "worker.log").open("wb") as err:
            worker = subprocess.Popen([SOHOA, "worker"], env=env, stderr=err, start_new_session=True)
    rounds, rss = [], []

    def pids() -> list[int]:
        return [*process_tree(server.pid), *([worker.pid] if worker else [])]

    try:
        for n in range(opts.rounds):
            rounds.append(post_all(dossiers, port, scanner, opts, day=n))
            rss.append(sum(proc_status(pid, "VmRSS") for pid in pids()))
        peak = sum(proc_status(pid, "VmHWM") for pid in pids())
    finally:
        stop_server(server)
        if worker is not None:
            stop_server(worker)
    print("server RSS MB after each round: " + " / ".join(f"{r / 2**20:.0f}" for r in rss))
    return rounds, peak


def run_floor(dossiers: list[Path], processes: int, opts: argparse.Namespace) -> list[Station]:
    """The same burst against bench/floor_app.py under uvicorn with as many processes."""
    port = free_port()
    uvicorn = str(Path(sys.executable).parent / "uvicorn")
    cmd = [uvicorn, "floor_app:app", "--app-dir", str(ROOT / "bench"), "--port", str(port)]
    server = subprocess.Popen([*cmd, "--workers", str(processes), "--log-level", "warning"], start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            time.sleep(0.2)
        return post_all(dossiers, port, "-", argparse.Namespace(**{**vars(opts), "accept_only": True}))
    finally:
        stop_server(server)


@dataclass
class CliRun:
    wall_s: float  # process start to exit
    inner_s: float  # what digitize itself reports (no interpreter start, imports, model load)


def cli_digitize(inputs: list[Path], output: Path, jobs: int, env: dict[str, str]) -> CliRun:
    t0 = time.perf_counter()
    cmd = [SOHOA, "digitize", *map(str, inputs), "-o", str(output), "-j", str(jobs)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"sohoa digitize {inputs[0].name}… failed:\n{proc.stderr[-2000:]}")
    # Its last line ends "…, 1,234 byte, 12.3 s".
    return CliRun(wall, float(proc.stdout.strip().rsplit(",", 1)[1].split()[0]))


def run_cli(dossiers: list[Path], out: Path, jobs: int, env: dict[str, str]) -> tuple[list[CliRun], CliRun]:
    """`sohoa digitize` once per dossier, one after another (what the service's one worker thread
    does), then once on every dossier together (no interpreter start or model load per dossier)."""
    out.mkdir(parents=True, exist_ok=True)
    each = [cli_digitize([pdf], out / pdf.name, jobs, env) for pdf in dossiers]
    return each, cli_digitize(dossiers, out / "all.pdf", jobs, env)


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--stations", type=int, default=20, help="scanner stations posting at once (default 20)")
    ap.add_argument("--pages", type=int, default=10, help="A4 pages per dossier (default 10)")
    ap.add_argument("--dpi", type=int, default=300, help="scan resolution (default 300)")
    ap.add_argument("--quality", type=int, default=85, help="JPEG quality of the pages (default 85)")
    ap.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="bursts one after another on the same server; the p95 is over all their uploads (default 3)",
    )
    ap.add_argument("--poll", type=float, default=1.0, help="seconds between a station's job polls (default 1)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds a station waits for its job (default 1800)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "service", help="work folder")
    ap.add_argument("--raw", action="store_true", help="post each dossier as the raw body, not multipart")
    ap.add_argument(
        "--accept-only",
        action="store_true",
        help="uploads only: no worker in the server (SOHOA_EMBEDDED_WORKER=false), no jobs, no CLI run",
    )
    ap.add_argument(
        "--separate-worker",
        action="store_true",
        help="the worker as a `sohoa worker` process beside the server (SOHOA_EMBEDDED_WORKER=false), as in a "
        "scaled-out setup; its memory is counted with the server's",
    )
    ap.add_argument(
        "--behind-large",
        type=int,
        metavar="PAGES",
        help="instead of the stations' bursts: a dossier of --pages pages alone, then behind a file of PAGES "
        "pages (issue 16, item 4: 1000)",
    )
    return ap.parse_args()


def describe(args: argparse.Namespace, settings: Settings, env: dict[str, str]) -> None:
    """The run's set-up, printed before its figures."""
    print("command: ", shlex.join([sys.executable, *sys.argv]))
    print("date:    ", dt.datetime.now().astimezone().isoformat(timespec="seconds"), "| CPUs:", os.cpu_count())
    print("load:    ", loadavg(), "(1, 5, 15 min; anything else running skews the figures)")
    worker = (
        f"separate worker process ({settings.worker_threads} job at a time, SOHOA_OCR_JOBS={settings.ocr_jobs})"
        if args.separate_worker
        else f"embedded worker ({settings.worker_threads} job at a time, SOHOA_OCR_JOBS={settings.ocr_jobs})"
        if settings.embedded_worker
        else "no worker (acceptance only)"
    )
    print(
        f"service:  sohoa serve, {settings.api_processes} server processes, {worker}, SQLite catalog and queue, "
        "filesystem store, B-B signature (no TSA)"
    )
    print(f"uploads:  {'raw body (Content-Type: application/pdf)' if args.raw else 'multipart, field file'}")
    if changed := sorted(k for k in env if k.startswith("SOHOA_") and k != "SOHOA_DATA_DIR"):
        print("settings: ", ", ".join(f"{k}={env[k]}" for k in changed), "(from this shell)")


def line(label: str, value: str, target: str = "") -> None:
    print(f"{label:<58} {value:>9} {target:>8}")


def accepted_ms(stations: list[Station]) -> list[float]:
    return [st.upload_s * 1000 for st in stations if st.status_code == 202]


def each(values: list[list[float]], q: float = 0.95) -> str:
    return " / ".join(f"{percentile(v, q):.0f}" for v in values if v)


def report_uploads(
    rounds: list[list[Station]], floors: list[list[Station]], out: Path, settings: Settings
) -> list[Station]:
    """Upload latency of every round against the floor app's; returns every station of every round."""
    after_body = request_ms(out / "server.log", "/scans", "after_body_ms")
    server_ms = request_ms(out / "server.log", "/scans")
    every = [st for stations in rounds for st in stations]
    for st in every:
        if st.error:
            print(f"  {st.code}: {st.error}")

    uploads_ms = accepted_ms(every)
    print(f"{'what / chỉ số':<58} {'value':>9} {'target':>8}")

    line("uploads accepted (202) / tải lên được nhận", f"{len(uploads_ms)}/{len(every)}")
    line("upload p50 ms (request start → 202)", f"{percentile(uploads_ms, 0.5):.0f}")
    line("upload p95 ms / độ trễ tải lên p95", f"{percentile(uploads_ms, 0.95):.0f}", f"≤ {TARGET_P95_MS}")
    line("upload max ms", f"{max(uploads_ms):.0f}")
    print(f"  p95 of each round: {each([accepted_ms(r) for r in rounds])} ms")
    if server_ms:
        line("upload p95 ms in the server's own request log", f"{percentile(server_ms, 0.95):.0f}")
    if after_body:
        line("  of which after the body's last byte (p95 ms)", f"{percentile(after_body, 0.95):.0f}")
    floor_ms = accepted_ms([st for stations in floors for st in stations])
    if len(floor_ms) == len(every):
        line(
            f"floor: p95 ms of a bare read-hash-write app ({settings.api_processes} proc.)",
            f"{percentile(floor_ms, 0.95):.0f}",
        )
        print(f"  p95 of each round: {each([accepted_ms(r) for r in floors])} ms")
    else:
        line("floor: uploads that failed", f"{len(every) - len(floor_ms)}")
    return every


def report_throughput(
    rounds: list[list[Station]],
    every: list[Station],
    dossiers: list[Path],
    out: Path,
    settings: Settings,
    env: dict[str, str],
    args: argparse.Namespace,
    peak: int,
) -> None:
    """End-to-end pages a minute against the CLI's on the same pages, failed jobs, memory."""
    total_pages = args.stations * args.pages
    done = [st for st in every if st.status == "done"]
    spans = []  # each round: first upload's start → its last job done
    for stations in rounds:
        finished = [st.finished for st in stations if st.status == "done"]
        if finished:
            spans.append((len(finished), max(finished) - min(st.started for st in stations)))
    service_ppm = sum(n for n, _ in spans) * args.pages / sum(s for _, s in spans) * 60 if spans else 0.0
    cli, cli_once = run_cli(dossiers, out / "cli", settings.ocr_jobs, env)
    cli_wall = sum(r.wall_s for r in cli)
    cli_ppm = total_pages / cli_wall * 60
    once_ppm = total_pages / cli_once.wall_s * 60
    line("end-to-end pages/min (first upload → last job done)", f"{service_ppm:.1f}")
    print("  each round: " + " / ".join(f"{n * args.pages / s * 60:.1f}" for n, s in spans))
    line(f"CLI pages/min (sohoa digitize -j {settings.ocr_jobs}, one call per dossier)", f"{cli_ppm:.1f}")
    line("service / CLI throughput", f"{service_ppm / cli_ppm * 100:.1f} %", f"≥ {TARGET_RATIO * 100:.0f} %")
    line(f"CLI pages/min, all {len(dossiers)} dossiers in one call", f"{once_ppm:.1f}")
    line("service / that", f"{service_ppm / once_ppm * 100:.1f} %")
    line("failed jobs / công việc lỗi", f"{len(every) - len(done)}", "0")
    line("server peak RSS MB (VmHWM)", f"{peak / 2**20:.0f}")
    job_s = [st.job_s for st in done]
    print("\nwhere the time goes (seconds per dossier, mean):")
    if job_s:
        print(f"  service job (claim → done: fetch, digitize, sign, store, index): {sum(job_s) / len(job_s):.2f}")
    print(f"  CLI process (start → exit): {cli_wall / len(cli):.2f}")
    print(f"  CLI digitize itself (as it reports): {sum(r.inner_s for r in cli) / len(cli):.2f}")
    span = sum(s for _, s in spans)
    print(
        f"  end-to-end {span:.1f} s over {len(spans)} rounds = sum of job seconds {sum(job_s):.1f} s "
        f"+ {span - sum(job_s):.1f} s before the first job and between jobs; CLI total {cli_wall:.1f} s, "
        f"in one call {cli_once.wall_s:.1f} s"
    )
    print("load at the end:", loadavg())


def repeated_pdf(path: Path, pages: int, dpi: int, seed: int) -> Path:
    """``pages`` A4 pages of form text, JPEG in PDF as a scanner station sends them (a few
    different pages, repeated: a 1000-page file stays small to make)."""
    font, width, rng = ImageFont.truetype(FONT, round(14 / 72 * dpi)), round(160 / 25.4 * dpi), random.Random(seed)
    images = [render_page([text for text, _ in page_lines(rng, font, width)], dpi=dpi) for _ in range(min(pages, 5))]
    sequence = [images[n % len(images)] for n in range(pages)]
    sequence[0].save(path, "PDF", save_all=True, append_images=sequence[1:], resolution=dpi, quality=85)
    return path


def post_file(client: httpx.Client, code: str, path: Path) -> str:
    with path.open("rb") as f:
        answer = client.post(f"/api/v1/dossiers/{code}/scans", files={"file": (path.name, f, "application/pdf")})
    answer.raise_for_status()
    return str(answer.json()["jobs"][0]["id"])


def wait_job(client: httpx.Client, job_id: str, until: str = "done", pages: int = 0, timeout: float = 1800) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["status"] == "failed" or (job["status"] == until and job["progress"]["pages_done"] >= pages):
            return job  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise TimeoutError(job_id)


def job_seconds(job: dict) -> float:  # type: ignore[type-arg]
    """From the upload's acceptance to the job's end, as the server recorded them."""
    start, end = (dt.datetime.fromisoformat(job[key]) for key in ("created_at", "finished_at"))
    return (end - start).total_seconds()


def behind_large(args: argparse.Namespace, out: Path, env: dict[str, str]) -> None:
    """Issue 16, item 4: a small dossier (--pages) alone, then posted while a file of
    --behind-large pages is being digitized; the small job's time from upload to done, side by
    side, and the ratio (target: 2x or less). The large job is then cancelled, as a desk would."""
    small = [repeated_pdf(out / f"nho-{n}.pdf", args.pages, args.dpi, seed=10 * n) for n in (1, 2)]
    warm = repeated_pdf(out / "mo-dau.pdf", 1, args.dpi, seed=1)
    large = repeated_pdf(out / "lon.pdf", args.behind_large, args.dpi, seed=100)
    print(f"small: {args.pages} pages; large: {args.behind_large} pages ({large.stat().st_size / 2**20:.1f} MB); "
          f"{args.dpi} dpi JPEG in PDF; a 1-page job first: the one measured alone loads nothing\n")  # fmt: skip
    port = free_port()
    server = start_server(env, port, out / "server.log")
    try:
        headers = {"Authorization": f"Bearer {token(env, 'Trạm quét', 'clerk')}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120) as client:
            wait_job(client, post_file(client, f"{AGENCY}-250527-0009", warm))
            alone = job_seconds(wait_job(client, post_file(client, f"{AGENCY}-250527-0001", small[0])))
            big = post_file(client, f"{AGENCY}-250527-0002", large)
            started = wait_job(client, big, until="running", pages=2)
            print(f"large job: {started['progress']['pages_total']} pages counted at upload, running")
            behind = job_seconds(wait_job(client, post_file(client, f"{AGENCY}-250527-0003", small[1])))
            progress = client.get(f"/api/v1/jobs/{big}").json()["progress"]
            cancelled = client.post(f"/api/v1/jobs/{big}/cancel").json()["status"]
    finally:
        stop_server(server)
    line("small dossier alone, s", f"{alone:.1f}")
    line("small dossier behind the large one, s", f"{behind:.1f}")
    line("ratio", f"{behind / alone:.2f}", f"<= {TARGET_BEHIND_RATIO}")
    line("large job meanwhile", f"{progress['pages_done']} of {progress['pages_total']} pages, then {cancelled}")


def main() -> None:
    args = parse_args()
    out: Path = args.out.resolve()
    shutil.rmtree(out, ignore_errors=True)  # a fresh data dir: no dossier of an earlier run
    out.mkdir(parents=True)
    os.environ["SOHOA_DATA_DIR"] = str(out / "var")  # so Settings() below and the CLI runs read what the servers read
    if args.accept_only or args.separate_worker:
        os.environ["SOHOA_EMBEDDED_WORKER"] = "false"
    env = dict(os.environ)
    settings = Settings()  # what the server will use: OCR jobs per job, worker threads
    describe(args, settings, env)
    if args.behind_large:
        behind_large(args, out, env)
        return
    t0 = time.perf_counter()
    dossiers = make_dossiers(out / "dossiers", args.stations, args.pages, args.dpi, args.quality)
    sizes = [p.stat().st_size for p in dossiers]
    total_pages = args.stations * args.pages
    print(
        f"pages:    {args.stations} dossiers × {args.pages} A4 pages, RGB {args.dpi} dpi JPEG q{args.quality} in PDF, "
        f"{sum(sizes) / len(sizes) / 2**20:.1f} MB per dossier ({sum(sizes) / total_pages / 1024:.0f} KB/page); "
        f"made in {time.perf_counter() - t0:.0f} s"
    )
    print(
        f"rounds:   {args.rounds} bursts on one server (the first just after its start, each next one when the jobs "
        "of the one before are done); then as many to the floor app\n"
    )
    rounds, peak = run_service(dossiers, out, env, args)
    # After the service, not between its rounds: a burst's 144 MB of fsync'd writes slowed the
    # next burst on this machine's disk for some seconds, even after a sync.
    floors = [run_floor(dossiers, settings.api_processes, args) for _ in range(args.rounds)]
    every = report_uploads(rounds, floors, out, settings)
    if args.accept_only:
        line("server peak RSS MB (VmHWM)", f"{peak / 2**20:.0f}")
        return
    report_throughput(rounds, every, dossiers, out, settings, env, args, peak)


if __name__ == "__main__":
    main()
