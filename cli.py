"""Command line (Typer): the same steps as the service, without a server."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from errors import SohoaError

if TYPE_CHECKING:
    from service.settings import Settings

app = typer.Typer(
    help="sohoa: số hóa hồ sơ một cửa (quét → OCR tiếng Việt → PDF/A → chữ ký số → tìm kiếm).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


_actor: list[str] = []  # --actor, for the audit log


def get_settings() -> Settings:
    """The server's settings, imported when a command needs them: a scanner station installed
    with ``sohoa[station]`` alone has none of the server's libraries (pydantic-settings…)."""
    from service.settings import get_settings as read

    return read()


@app.callback()
def _every_command(
    ctx: typer.Context,
    actor: Annotated[
        str | None, typer.Option("--actor", help="Tên người thao tác ghi vào nhật ký (mặc định: người dùng hệ thống)")
    ] = None,
) -> None:
    """Say which data folder a command made, once it has made it (SOHOA_DATA_DIR, else the
    checkout's var/): a command run from another folder uses the same one."""
    _actor[:] = [actor] if actor else []
    if ctx.invoked_subcommand in ("station", "sign-agent"):
        return  # a desk PC's agents: no data folder, no server settings
    folder = get_settings().data_dir.resolve()
    existed = folder.exists()

    def announce() -> None:
        if not existed and folder.exists():
            typer.echo(f"Thư mục dữ liệu mới / new data folder: {folder} (SOHOA_DATA_DIR)", err=True)

    ctx.call_on_close(announce)


def operator() -> str:
    """Who a command acts as in the audit log: ``--actor``, else the operating-system user."""
    import getpass

    return f"cli:{_actor[0] if _actor else getpass.getuser()}"


def existing_data(settings: Settings) -> None:
    """A command that only reads (search, audit) never makes a data folder: where there is none,
    there is nothing to read, and the person has most likely pointed at the wrong one."""
    embedded = not settings.database_url or not settings.object_store_url
    if embedded and not settings.data_dir.exists():
        fail(
            SohoaError(
                f"Không có dữ liệu ở {settings.data_dir.resolve()}: chưa có dịch vụ nào chạy với thư mục này "
                "(đặt SOHOA_DATA_DIR cho đúng thư mục dữ liệu).",
                f"No data in {settings.data_dir.resolve()}: no service has run with this folder "
                "(set SOHOA_DATA_DIR to the right data folder).",
                field="SOHOA_DATA_DIR",
            )
        )


def _tell(error: SohoaError) -> None:
    where = f" [{error.field}]" if error.field else ""
    typer.echo(f"Lỗi{where}: {error.vi}\nError{where}: {error.en}", err=True)


def fail(error: SohoaError, code: int = 2) -> NoReturn:
    _tell(error)
    raise typer.Exit(code)


def echo_json(model: Any) -> None:
    """A pydantic answer as the API would give it."""
    typer.echo(json.dumps(model.model_dump(mode="json"), ensure_ascii=False, indent=2))


def _run(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    try:
        return fn(*args, **kwargs)
    except SohoaError as e:
        fail(e)


@app.command()
def digitize(
    inputs: Annotated[list[Path], typer.Argument(help="Tệp quét: PDF, TIFF, JPEG, JPEG 2000, PNG")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Tệp PDF/A kết quả")],
    title: Annotated[str, typer.Option(help="Tiêu đề ghi vào siêu dữ liệu")] = "",
    code: Annotated[str, typer.Option(help="Mã hồ sơ ghi vào siêu dữ liệu")] = "",
    languages: Annotated[str | None, typer.Option("-l", "--languages", help="Ngôn ngữ Tesseract")] = None,
    jobs: Annotated[int | None, typer.Option("-j", "--jobs", help="Số trang OCR song song")] = None,
    flavour: Annotated[str | None, typer.Option(help="1b, 2b hoặc 3b")] = None,
    spreads: Annotated[str | None, typer.Option(help="Tách trang đôi: auto, never, always")] = None,
    blanks: Annotated[str | None, typer.Option(help="Trang trắng: flag (đánh dấu) hoặc drop (bỏ)")] = None,
    profile: Annotated[
        str | None, typer.Option(help="Ảnh trang: archive (giữ nguyên) hoặc compact (ảnh màu, xám nén JPEG)")
    ] = None,
    hocr: Annotated[Path | None, typer.Option(help="Ghi thêm kết quả OCR dạng hOCR")] = None,
    alto: Annotated[Path | None, typer.Option(help="Ghi thêm kết quả OCR dạng ALTO v4")] = None,
    metadata: Annotated[
        Path | None, typer.Option(help="Ghi thêm thông tin văn bản đọc từ trang (số, ngày, loại, người ký…) dạng JSON")
    ] = None,
) -> None:
    """Số hóa tệp quét thành một PDF/A hai lớp. / Scans to one two-layer PDF/A."""
    from digitize import Source
    from digitize import digitize as run
    from service import options

    settings = get_settings()
    for path in inputs:
        if not path.is_file():
            fail(SohoaError(f"Không có tệp {path}.", f"No such file: {path}.", field=str(path)))
    if profile not in (None, "archive", "compact"):
        fail(
            SohoaError(
                "--profile phải là archive hoặc compact.", "--profile must be archive or compact.", field="profile"
            )
        )

    def progress(done: int, total: int | None) -> None:
        typer.echo(f"\r{done}/{total or '?'} trang", nl=total is not None, err=True)

    chosen = options.digitize_options(
        settings,
        spreads=spreads,  # type: ignore[arg-type]  # checked by digitize, which names the field
        blank_pages=blanks,  # type: ignore[arg-type]
        profile=profile,
        languages=languages,
        jobs=jobs,
        flavour=flavour,
    )
    result = _run(
        run,
        [Source(p, p.name) for p in inputs],
        output,
        title=title or inputs[0].stem,
        identifier=code,
        progress=progress,
        **chosen,
    )
    from digitize.export import to_alto, to_hocr

    if hocr:
        hocr.write_text(to_hocr(result.pages, title=title or inputs[0].stem), encoding="utf-8")
    if alto:
        alto.write_text(to_alto(result.pages), encoding="utf-8")
    if metadata:
        metadata.write_text(json.dumps(result.metadata_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    for notice in result.notices:
        typer.echo(f"Chú ý: {notice['vi']}", err=True)
    typer.echo(f"{output}: {len(result.pages)} trang, PDF/A-{result.flavour}, {result.size:,} byte, {result.seconds} s")


@app.command()
def batch(
    inputs: Annotated[list[Path], typer.Argument(help="Lô quét: PDF, TIFF, JPEG, JPEG 2000, PNG")],
    output_dir: Annotated[Path, typer.Option("-o", "--output-dir", help="Thư mục kết quả: <mã hồ sơ>/<n>.pdf")],
    code: Annotated[str, typer.Option(help="Mã hồ sơ cho các trang trước tờ phân cách đầu tiên")] = "",
) -> None:
    """Tách lô quét theo tờ phân cách (QR mã hồ sơ, PATCH-T) thành từng PDF/A.
    / Split a batch scan at its separator sheets (dossier-code QR, PATCH-T), one PDF/A per document."""
    from digitize import Source, digitize_batch
    from service import options
    from storage import parse_code

    settings = get_settings()
    for path in inputs:
        if not path.is_file():
            fail(SohoaError(f"Không có tệp {path}.", f"No such file: {path}.", field=str(path)))
    if code:
        _run(parse_code, code, settings.dossier_code_pattern)
    segments = _run(
        digitize_batch,
        [Source(p, p.name) for p in inputs],
        output_dir,
        code_pattern=settings.dossier_code_pattern,
        default_code=code,
        **options.digitize_options(settings),
    )
    for s in segments:
        kept = sum(not p.dropped for p in s.result.pages)
        typer.echo(f"{s.result.output}: hồ sơ {s.code or '(chưa rõ mã)'}, tài liệu {s.document}, {kept} trang")


@app.command()
def printset(
    input: Annotated[Path, typer.Argument(help="Tệp PDF (thường là bản vẽ khổ lớn đã số hóa)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Bộ bản in")],
    sheet: Annotated[str, typer.Option(help="Khổ giấy in: A4 hoặc A3")] = "A3",
    overlap: Annotated[float, typer.Option(help="Phần chồng lên nhau giữa các tờ, mm")] = 10.0,
) -> None:
    """Chia trang khổ lớn thành các tờ A4/A3 chồng mép, có nhãn vị trí. / Tile large pages onto A4/A3 sheets."""
    from digitize.printset import print_set

    if sheet not in ("A4", "A3"):
        fail(SohoaError("Khổ giấy in phải là A4 hoặc A3.", "The sheet must be A4 or A3.", field="sheet"))
    if not input.is_file():
        fail(SohoaError(f"Không có tệp {input}.", f"No such file: {input}.", field=str(input)))
    sheets = _run(print_set, input, output, sheet=sheet, overlap_mm=overlap)
    typer.echo(f"{output}: {len(sheets)} tờ {sheet}")


@app.command()
def sign(
    input: Annotated[Path, typer.Argument(help="Tệp PDF cần ký")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Tệp PDF đã ký")],
    pkcs12: Annotated[Path | None, typer.Option(help="Chứng thư PKCS#12 (mặc định: theo cấu hình)")] = None,
    password_file: Annotated[Path | None, typer.Option(help="Tệp chứa mật khẩu PKCS#12")] = None,
    agency: Annotated[str | None, typer.Option(help="Tên cơ quan hiện trên chữ ký")] = None,
    level: Annotated[str | None, typer.Option(help="Mức PAdES: B-B, B-T, B-LT, B-LTA (mặc định theo cấu hình)")] = None,
    tsa_url: Annotated[str | None, typer.Option(help="Máy chủ dấu thời gian RFC 3161")] = None,
    trust_root: Annotated[list[Path] | None, typer.Option(help="Chứng thư gốc tin cậy (PEM), cho B-LT")] = None,
) -> None:
    """Ký số PAdES bằng chứng thư cơ quan (theo cấu hình: token PKCS#11, PKCS#12 hoặc DEMO).
    / PAdES-sign with the agency certificate (as configured: PKCS#11 token, PKCS#12 or the demo one)."""
    from service import options
    from signing import agency_signer, sign_pdf

    settings = get_settings()
    if not input.is_file():
        fail(SohoaError(f"Không có tệp {input}.", f"No such file: {input}.", field=str(input)))
    if pkcs12 is not None:
        signer = _run(agency_signer, pkcs12, password_file, pki_dir=settings.pki_dir, agency_name=settings.demo_agency)
    else:
        signer = _run(options.agency_signer, settings)
    profile = _run(
        options.signing_profile,
        settings,
        agency_name=agency,
        level=level,
        tsa_url=tsa_url,
        trust_roots=trust_root,
        demo=pkcs12 is None,  # the demo TSA and CRL vouch for the demo PKI's certificate only
    )
    info = _run(sign_pdf, input, output, signer, **profile.sign_kwargs())
    demo = " (chứng thư DEMO)" if signer.demo else ""
    typer.echo(f"{output}: đã ký{demo} bởi {info['signer']} lúc {info['time']}, {info['level']}")


@app.command("sign-agent")
def sign_agent(
    module: Annotated[Path, typer.Option(help="Thư viện PKCS#11 của USB token")],
    token: Annotated[str, typer.Option(help="Nhãn của token")],
    key: Annotated[str, typer.Option(help="Nhãn khóa và chứng thư trên token")],
    document_url: Annotated[
        str | None,
        typer.Argument(help="Địa chỉ tài liệu, vd. http://127.0.0.1:8000/api/v1/dossiers/<mã>/documents/1"),
    ] = None,
    pin_file: Annotated[
        Path | None, typer.Option(help="Tệp chứa mã PIN (không có: --serve hỏi mã PIN một lần khi chạy)")
    ] = None,
    page_count: Annotated[
        int | None,
        typer.Option(help="Xác nhận bản số hóa: số trang của bản giấy; đưa số này là xác nhận mọi trang đều đọc được"),
    ] = None,
    api_token: Annotated[
        str, typer.Option(envvar="SOHOA_API_TOKEN", help="Mã truy cập dịch vụ của cán bộ (`sohoa users add`)")
    ] = "",
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="Chạy chương trình ký tại chỗ cho trang Ký số (nút «Ký bằng USB token trên máy này»), "
            "thay cho một tài liệu với --api-token",
        ),
    ] = False,
    origin: Annotated[
        list[str] | None,
        typer.Option(help="Với --serve: địa chỉ dịch vụ sohoa có trang được ký, vd. http://may-chu:8000 (lặp được)"),
    ] = None,
    port: Annotated[int, typer.Option(help="Với --serve: cổng trên 127.0.0.1")] = 8787,
) -> None:
    """Ký bằng USB token của cán bộ (hai bước, khóa không rời token): một tài liệu với mã truy cập,
    hoặc --serve để trang Ký số trên máy này gọi.
    / Sign with a clerk's token, in two steps: one document with an API token, or --serve for the
    sign page in this PC's browser."""
    from signing import agent
    from signing.signers import Pkcs11Config

    config = Pkcs11Config(module, token, key, pin_file)
    if serve:
        _serve_sign_agent(config, origin or [], port)
        return
    if not document_url:
        fail(SohoaError("Cần địa chỉ tài liệu, hoặc --serve.", "A document URL is needed, or --serve.", field="url"))
    path = "/" + document_url.split("://", 1)[-1].split("/", 1)[-1]
    result = _run(agent.run, _poster(document_url, api_token), path, config, page_count=page_count)
    typer.echo(f"Đã ký {result['dossier']} tài liệu {result['document_id']} bởi {result['signer']}, {result['level']}")


def _poster(document_url: str, api_token: str) -> Any:
    """POST a JSON body to the service with the clerk's API token; an error answer ends the command."""
    import urllib.error
    import urllib.request
    from urllib.parse import urljoin

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            urljoin(document_url, path),
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {api_token}"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as e:
            problem = json.loads(e.read() or b"{}")
            fail(
                SohoaError(
                    problem.get("detail_vi", str(e)), problem.get("detail_en", str(e)), field=problem.get("field")
                )
            )
        except OSError as e:
            fail(SohoaError(f"Không kết nối được dịch vụ: {e}", f"Cannot reach the service: {e}", field="document_url"))

    return post


def _serve_sign_agent(config: Any, origins: list[str], port: int) -> None:
    """The local agent the sign page calls (signing/local_agent.py says whom it answers, and why)."""
    import contextlib
    import dataclasses
    import re

    from signing import agent, local_agent

    if not origins or not all(re.fullmatch(r"https?://[^/\s]+/?", o) for o in origins):
        fail(
            SohoaError(
                "Cần --origin: địa chỉ dịch vụ sohoa, vd. http://may-chu:8000 (không có đường dẫn).",
                "--origin is needed: the sohoa service's address, e.g. http://may-chu:8000 (no path).",
                field="origin",
            )
        )
    if config.pin_file is None:  # typed once here; kept in this process, never sent anywhere
        pin = typer.prompt("Mã PIN của token / token PIN", hide_input=True, default="", show_default=False)
        config = dataclasses.replace(config, pin=pin)
    _run(agent.token_chain, config)  # the PIN and the key checked now, not at the first signature
    try:
        httpd = local_agent.server(local_agent.Agent(config, origins, _console_yes), port)
    except OSError as e:
        fail(SohoaError(f"Không mở được cổng {port}: {e}", f"Cannot listen on port {port}: {e}", field="port"))
    shown = ", ".join(local_agent.normal_origin(o) for o in origins)
    typer.echo(
        f"Chương trình ký chạy tại http://127.0.0.1:{port} cho trang của {shown}; Ctrl+C để dừng.\n"
        f"The signing agent runs at http://127.0.0.1:{port} for the pages of {shown}; Ctrl+C stops it."
    )
    with contextlib.suppress(KeyboardInterrupt):
        httpd.serve_forever()
    httpd.server_close()


def _console_yes(question: str) -> bool:
    """The clerk's yes at the console for one signature (c/có/y/yes); anything else, or no console, is no."""
    typer.echo(question)
    yes = sys.stdin.readline().strip().lower() in ("c", "có", "co", "y", "yes")
    typer.echo("→ ký / signing" if yes else "→ không ký / refused")
    return yes


@app.command()
def verify(
    file: Annotated[Path, typer.Argument(help="Tệp PDF đã ký")],
    as_json: Annotated[bool, typer.Option("--json", help="In kết quả dạng JSON")] = False,
    trust_root: Annotated[list[Path] | None, typer.Option(help="Chứng thư gốc tin cậy (PEM), có thể lặp lại")] = None,
) -> None:
    """Kiểm tra chữ ký số và PDF/A; mã thoát 0 khi mọi chữ ký hợp lệ. / Verify; exit 0 when all is valid."""
    from service.options import default_trust_roots
    from signing import verify_pdf

    if not file.is_file():
        fail(SohoaError(f"Không có tệp {file}.", f"No such file: {file}.", field=str(file)))
    roots = list(trust_root or []) or default_trust_roots(get_settings(), make_demo=False)
    report = _run(verify_pdf, file, roots)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        for s in report.signatures:
            mark = "✓" if s.ok else "✗"
            typer.echo(
                f"{mark} {s.field}: {s.signer}\n   ký lúc {s.signing_time}, {s.level}, "
                f"nguyên vẹn={s.intact}, hợp lệ={s.valid}, tin cậy={s.trusted}, phạm vi={s.coverage}"
            )
            for finding in s.problems:
                typer.echo(f"   ✗ {finding.vi} / {finding.en}")
        for t in report.timestamps:
            typer.echo(f"{'✓' if t.ok else '✗'} {t.field}: dấu thời gian tài liệu / document time stamp, {t.time}")
        if report.encrypted:
            typer.echo("Tệp có mật khẩu chủ (hạn chế chỉnh sửa) / the file has an owner password (editing restricted)")
        typer.echo(report.verdict_vi)
        typer.echo(report.verdict_en)
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help='Từ cần tìm, có hoặc không dấu; cụm từ trong "…"')],
    as_json: Annotated[bool, typer.Option("--json", help="In kết quả dạng JSON")] = False,
    limit: Annotated[int, typer.Option(help="Số kết quả tối đa (≤ 100)")] = 20,
    offset: Annotated[int, typer.Option(help="Bỏ qua bấy nhiêu kết quả đầu")] = 0,
    agency: Annotated[str | None, typer.Option(help="Chỉ hồ sơ của cơ quan này (mã cơ quan)")] = None,
    procedure: Annotated[str | None, typer.Option(help="Chỉ hồ sơ của thủ tục này")] = None,
    status: Annotated[str | None, typer.Option(help="Chỉ hồ sơ ở trạng thái này")] = None,
    received_from: Annotated[str | None, typer.Option(help="Nhận từ ngày (YYYY-MM-DD)")] = None,
    received_to: Annotated[str | None, typer.Option(help="Nhận đến ngày (YYYY-MM-DD)")] = None,
    type: Annotated[str | None, typer.Option(help="Loại văn bản, ví dụ «Quyết định»")] = None,
    number: Annotated[str | None, typer.Option(help="Số, ký hiệu văn bản: 125/QĐ-UBND")] = None,
    issuer: Annotated[str | None, typer.Option(help="Cơ quan ban hành (một phần tên)")] = None,
    issued_from: Annotated[str | None, typer.Option(help="Ban hành từ ngày (YYYY-MM-DD)")] = None,
    issued_to: Annotated[str | None, typer.Option(help="Ban hành đến ngày (YYYY-MM-DD)")] = None,
) -> None:
    """Tìm hồ sơ theo nội dung và thông tin hồ sơ. / Search dossiers by their text and metadata."""
    import datetime as dt

    from service import search as searching
    from service.context import context
    from storage.search import DocumentFilter

    existing_data(get_settings())

    def day(value: str | None, name: str) -> dt.date | None:
        try:
            return dt.date.fromisoformat(value) if value else None
        except ValueError:
            fail(
                SohoaError(
                    f"Ngày {value!r} không hợp lệ, cần dạng YYYY-MM-DD.",
                    f"Invalid date {value!r}, expected YYYY-MM-DD.",
                    field=name,
                )
            )

    result = _run(
        searching.search,
        context(),
        query,
        limit=limit,
        offset=offset,
        agency=agency,
        procedure=procedure,
        status=status,
        received_from=day(received_from, "received_from"),
        received_to=day(received_to, "received_to"),
        documents=DocumentFilter(type, number, issuer, day(issued_from, "issued_from"), day(issued_to, "issued_to")),
        actor=operator(),
    )
    if as_json:
        echo_json(result)
        return
    shown = f"{offset + 1}–{offset + len(result.hits)}" if result.hits else "0"
    about = "khoảng " if result.total_estimated else ""  # an estimate: PostgreSQL, above 1,000 matches
    typer.echo(f"{about}{result.total} trang khớp «{result.query}» (hiển thị {shown})")
    for hit in result.hits:
        mark = " [đúng dấu]" if hit.exact else ""
        typer.echo(f"{hit.dossier_code}  tài liệu {hit.document_id} trang {hit.page}{mark}: {hit.snippet}")


@app.command()
def reread(codes: Annotated[list[str], typer.Argument(help="Mã hồ sơ")]) -> None:
    """Đọc thông tin văn bản (số, ngày, loại, người ký…) từ ALTO đã lưu của các tài liệu số hóa trước khi có
    tính năng này. / Read the fields of documents digitized before they were read from the page, from their ALTO."""
    from service import dossiers
    from service.context import context

    existing_data(get_settings())
    for code in codes:
        count = _run(dossiers.reread_fields, context(), code)
        typer.echo(f"{code}: đã đọc thông tin của {count} tài liệu / fields read for {count} documents")


@app.command()
def audit(
    as_json: Annotated[bool, typer.Option("--json", help="In kết quả dạng JSON")] = False,
    anchor: Annotated[
        bool, typer.Option("--anchor", help="Khi toàn vẹn: neo đầu nhật ký kiểm tra ngay (đối tượng ghi một lần)")
    ] = False,
) -> None:
    """Kiểm tra toàn vẹn: băm lại mọi đối tượng, chuỗi nhật ký và các mốc neo, mã truy cập; mã thoát 1
    khi có sai lệch. / Re-hash every object, check the audit log against itself and its anchors, and
    every token against the log; exit 1 on any finding."""
    import dataclasses

    from service.audit import anchor as anchor_head
    from service.audit import integrity
    from service.context import context

    existing_data(get_settings())
    report = _run(integrity, context())
    anchored = _run(anchor_head, context()) if anchor and report.ok else None
    if as_json:
        typer.echo(json.dumps({**dataclasses.asdict(report), "ok": report.ok}, ensure_ascii=False, indent=2))
    else:
        _print_audit(report)
        if anchored:
            typer.echo(f"Đã neo đầu nhật ký / anchored the log's head: {anchored}")
    raise typer.Exit(0 if report.ok else 1)


def _print_audit(report: Any) -> None:
    typer.echo(f"Đã kiểm {report.checked} đối tượng / checked {report.checked} objects")
    for key in report.missing:
        typer.echo(f"THIẾU / MISSING  {key}")
    for item in report.corrupt:
        typer.echo(f"HỎNG / CORRUPT   {item['key']} (sha256 {item['actual'][:16]}…, cần {item['expected'][:16]}…)")
    for key in report.orphans:
        typer.echo(f"THỪA / ORPHAN    {key}")
    for key in report.writable:
        typer.echo(f"GHI ĐƯỢC / WRITABLE {key} (đối tượng lưu trữ phải chỉ đọc / stored objects must be read-only)")
    log = report.log
    if log.ok:
        typer.echo(
            f"Nhật ký kiểm tra: {log.entries} mục, chuỗi băm liền mạch / audit log: {log.entries} entries,"
            f" hash chain intact (head {log.head[:16]}…)"
        )
    else:
        typer.echo(f"NHẬT KÝ BỊ SỬA / AUDIT LOG ALTERED at entry {log.broken_at}: {log.reason}")
    for problem in report.anchors:
        typer.echo(f"NHẬT KÝ KHÁC MỐC NEO / LOG AGAINST ITS ANCHORS: {problem}")
    for problem in report.tokens:
        typer.echo(f"MÃ TRUY CẬP BỊ SỬA / TOKEN ALTERED: {problem}")
    typer.echo(
        "Toàn vẹn. / Intact."
        if report.ok
        else "Có đối tượng thiếu, hỏng, ghi được hoặc nhật ký, mã truy cập bị sửa. / Objects missing, corrupt or "
        "writable, or the log or tokens altered."
    )


users = typer.Typer(help="Mã truy cập của người dùng và trạm quét. / API tokens of people and scanner stations.")
app.add_typer(users, name="users")


@users.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Tên người dùng hoặc trạm quét")],
    role: Annotated[str, typer.Option(help="scanner, clerk, leader, seal_keeper, archivist, onestop, admin")],
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Chỉ in mã truy cập")] = False,
    password: Annotated[
        bool, typer.Option("--password", help="Hỏi mật khẩu đăng nhập trang web (gõ hai lần, không hiện)")
    ] = False,
    password_file: Annotated[Path | None, typer.Option(help="Tệp chứa mật khẩu đăng nhập trang web")] = None,
    agency: Annotated[
        list[str] | None,
        typer.Option("--agency", help="Mã cơ quan của người dùng (lặp lại được; không có: mọi cơ quan)"),
    ] = None,
) -> None:
    """Cấp mã truy cập (và mật khẩu trang web); mã chỉ hiện một lần. / Issue a token (and a web password)."""
    from service import access, agencies, people
    from service.context import context

    secret = _password(password, password_file)
    for code in agency or ():  # an unknown agency is refused before the token is made
        _run(agencies.get, context(), code)
    if secret is None:
        row, token = _run(access.issue, context().sessions, name, role, actor=operator())
    else:
        row, token = _run(people.add_person, context(), name, role, secret, actor=operator())
    if agency:
        _run(agencies.assign, context(), row.id, agency, actor=operator())
    if not quiet:
        typer.echo(f"Đã cấp mã số {row.id} cho {row.name} ({row.role}); lưu lại, mã không hiện lại.", err=True)
        typer.echo(f"Issued token {row.id} to {row.name} ({row.role}); keep it, it is not shown again.", err=True)
    typer.echo(token)


def _password(prompt: bool, path: Path | None) -> str | None:
    """A web password from a file (its first line) or typed twice; None when neither is asked for."""
    from signing.signers import read_secret

    if path is not None:
        _need_file(path)
        return str(_run(read_secret, path, "password_file"))
    if prompt:
        return str(typer.prompt("Mật khẩu / password", hide_input=True, confirmation_prompt=True))
    return None


@users.command("password")
def users_password(
    token_id: Annotated[int, typer.Argument(help="Số của người dùng (xem `sohoa users list`)")],
    password_file: Annotated[Path | None, typer.Option(help="Tệp chứa mật khẩu (không có: hỏi)")] = None,
) -> None:
    """Đặt mật khẩu đăng nhập trang web cho một người; mở khóa tài khoản. / Set a person's web password."""
    from service import people
    from service.context import context

    secret = _password(True, password_file) or ""
    _run(people.set_password, context(), token_id, secret, actor=operator())
    typer.echo(f"Đã đặt mật khẩu cho mã {token_id}. / Set the password of user {token_id}.")


@users.command("list")
def users_list() -> None:
    """Liệt kê mã truy cập (không in mã). / List tokens (never the tokens themselves)."""
    from service import access, agencies
    from service.context import context

    belongs = agencies.memberships(context())
    for row in access.tokens(context().sessions):
        state = f"thu hồi / revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "hiệu lực / active"
        bound = f"\tchứng thư / certificate {row.certificate_sha256[:16]}…" if row.certificate_sha256 else ""
        held = "\tkhóa trên máy chủ / server-held key" if row.signing_key else ""
        web = "\tđăng nhập web / web login" if row.password_hash else ""
        where = ", ".join(belongs.get(row.id, [])) or "mọi cơ quan / every agency"
        typer.echo(f"{row.id}\t{row.role}\t{row.name}\t{state}{bound}{held}{web}\tcơ quan / agencies: {where}")


@users.command("agencies")
def users_agencies(
    token_id: Annotated[int, typer.Argument(help="Số của người dùng (xem `sohoa users list`)")],
    agency: Annotated[list[str] | None, typer.Argument(help="Mã cơ quan (không có: mọi cơ quan)")] = None,
) -> None:
    """Đặt các cơ quan của một người dùng hay trạm quét. / Set the agencies a user or station belongs to."""
    from service import agencies
    from service.context import context

    chosen = _run(agencies.assign, context(), token_id, agency or [], actor=operator())
    shown = ", ".join(chosen) or "mọi cơ quan / every agency"
    typer.echo(f"Mã {token_id}: {shown}. / User {token_id}: {shown}.")


@users.command("certificate")
def users_certificate(
    token_id: Annotated[int, typer.Argument(help="Số của mã truy cập (xem `sohoa users list`)")],
    certificate: Annotated[Path, typer.Argument(help="Chứng thư ký số của người đó (PEM hoặc DER)")],
) -> None:
    """Gắn chứng thư ký của một người với mã truy cập của họ: ký hai bước chỉ nhận chứng thư đó,
    và không ai khác ký được bằng nó. / Bind a person's signing certificate to their token."""
    from service import access
    from service.context import context
    from signing.remote import load_chain

    if not certificate.is_file():
        fail(SohoaError(f"Không có tệp {certificate}.", f"No such file: {certificate}.", field=str(certificate)))
    [cert, *_] = _run(load_chain, certificate.read_bytes())
    row = _run(access.bind_certificate, context().sessions, token_id, cert.dump(), actor=operator())
    typer.echo(f"Đã gắn chứng thư {cert.subject.human_friendly} với mã {row.id} của {row.name}.")


def _need_file(path: Path | None) -> None:
    if path is not None and not path.is_file():
        fail(SohoaError(f"Không có tệp {path}.", f"No such file: {path}.", field=str(path)))


@users.command("key")
def users_key(
    token_id: Annotated[int, typer.Argument(help="Số của mã truy cập (xem `sohoa users list`)")],
    pkcs12: Annotated[Path | None, typer.Option(help="Tệp PKCS#12 của người đó")] = None,
    password_file: Annotated[Path | None, typer.Option(help="Tệp chứa mật khẩu/PIN (để kiểm tra, không lưu)")] = None,
    pkcs11_module: Annotated[Path | None, typer.Option(help="Thư viện PKCS#11 của token/HSM trên máy chủ")] = None,
    token: Annotated[str, typer.Option(help="Nhãn token (PKCS#11)")] = "",
    key: Annotated[str, typer.Option(help="Nhãn khóa và chứng thư (PKCS#11)")] = "",
    demo: Annotated[bool, typer.Option(help="Tạo chứng thư cá nhân DEMO từ PKI DEMO")] = False,
) -> None:
    """Gắn khóa ký cá nhân do máy chủ giữ cho một người; họ mở khóa bằng PIN mỗi lần ký.
    / Bind a personal signing key the server holds for a person; they unlock it with their PIN at each signature."""
    from service import keys
    from service.context import context
    from signing.signers import read_secret

    ctx, actor = context(), operator()
    _need_file(pkcs12)
    _need_file(password_file)
    secret = _run(read_secret, password_file, "password_file")
    if demo:
        name, pin = _run(keys.make_demo_key, ctx, token_id, actor=actor)
        typer.echo(f"Đã tạo chứng thư DEMO «{name}» cho mã {token_id}; PIN (chỉ hiện một lần):", err=True)
        typer.echo(pin)
        return
    if pkcs11_module is not None:
        name = _run(keys.bind_pkcs11, ctx, token_id, pkcs11_module, token, key, secret, actor=actor)
    elif pkcs12 is not None:
        name = _run(keys.bind_pkcs12, ctx, token_id, pkcs12, secret, actor=actor)
    else:
        fail(SohoaError("Cần --pkcs12, --pkcs11-module hoặc --demo.", "Give --pkcs12, --pkcs11-module or --demo."))
    typer.echo(f"Đã gắn khóa ký «{name}» với mã {token_id}. / Bound signing key “{name}” to token {token_id}.")


@users.command("signature-image")
def users_signature_image(
    token_id: Annotated[int, typer.Argument(help="Số của mã truy cập (xem `sohoa users list`)")],
    image: Annotated[Path, typer.Argument(help="Ảnh chữ ký (PNG, nền trong suốt)")],
) -> None:
    """Ảnh chữ ký của một người, hiện trên kết quả họ ký. / A person's signature image, shown on results they sign."""
    from service import keys
    from service.context import context

    _need_file(image)
    _run(keys.set_signature_image, context(), token_id, image, actor=operator())
    typer.echo(f"Đã lưu ảnh chữ ký cho mã {token_id}. / Stored the signature image of token {token_id}.")


@users.command("revoke")
def users_revoke(token_id: Annotated[int, typer.Argument(help="Số của mã truy cập (xem `sohoa users list`)")]) -> None:
    """Thu hồi một mã truy cập. / Revoke a token."""
    from service import access
    from service.context import context

    row = _run(access.revoke, context().sessions, token_id, actor=operator())
    typer.echo(f"Đã thu hồi mã {row.id} của {row.name}. / Revoked token {row.id} of {row.name}.")


registry = typer.Typer(help="Các cơ quan của hệ thống (tỉnh, huyện, xã). / The deployment's agencies.")
app.add_typer(registry, name="agencies")
Text = Annotated[str | None, typer.Option()]


def _agency_fields(values: dict[str, Any]) -> Any:
    from service.agencies import AgencyFields

    table = values.pop("retention", None)
    if table is not None:
        pairs = [item.split("=", 1) for item in table]
        if any(len(p) != 2 for p in pairs):
            fail(
                SohoaError(
                    "--retention: MÃ_THỦ_TỤC=MÃ_THỜI_HẠN, ví dụ 1.001234=20 hoặc *=10.",
                    "--retention: PROCEDURE_CODE=RETENTION_CODE, e.g. 1.001234=20 or *=10.",
                    field="retention",
                )
            )
        values["retention"] = dict(pairs)
    for key in ("pkcs12", "pkcs12_password_file", "pkcs11_module", "pkcs11_pin_file", "seal_image"):
        if values.get(key) is not None:
            values[key] = str(values[key])
    return AgencyFields(**values)


@registry.command("add")
def agencies_add(
    code: Annotated[str, typer.Argument(help="Mã cơ quan (phần đầu của mã hồ sơ), ví dụ 000.00.12.H12")],
    name: Annotated[str, typer.Option(help="Tên cơ quan như trên con dấu")],
    name_en: Text = None,
    parent: Text = None,
    pkcs12: Annotated[Path | None, typer.Option(help="Tệp PKCS#12 của cơ quan (không có: khóa chung / DEMO)")] = None,
    pkcs12_password_file: Annotated[Path | None, typer.Option()] = None,
    pkcs11_module: Annotated[Path | None, typer.Option(help="Thư viện PKCS#11 (token/HSM)")] = None,
    pkcs11_token: Text = None,
    pkcs11_key: Text = None,
    pkcs11_pin_file: Annotated[Path | None, typer.Option()] = None,
    seal_image: Annotated[Path | None, typer.Option(help="Ảnh con dấu (PNG nền trong suốt)")] = None,
    tsa_url: Text = None,
    ocsp_url: Text = None,
    retention: Annotated[list[str] | None, typer.Option(help="MÃ_THỦ_TỤC=MÃ_THỜI_HẠN (lặp lại; * : còn lại)")] = None,
) -> None:
    """Đăng ký một cơ quan. / Register an agency."""
    from service import agencies
    from service.context import context

    values = dict(locals())
    values.pop("code")
    row = _run(agencies.add, context(), code, _agency_fields(values), actor=operator())
    typer.echo(f"Đã đăng ký {row.code}: {row.name} ({row.signing}). / Registered {row.code}: {row.name}.")


@registry.command("update")
def agencies_update(
    code: Annotated[str, typer.Argument(help="Mã cơ quan")],
    name: Text = None,
    name_en: Text = None,
    parent: Text = None,
    pkcs12: Annotated[Path | None, typer.Option()] = None,
    pkcs12_password_file: Annotated[Path | None, typer.Option()] = None,
    pkcs11_module: Annotated[Path | None, typer.Option()] = None,
    pkcs11_token: Text = None,
    pkcs11_key: Text = None,
    pkcs11_pin_file: Annotated[Path | None, typer.Option()] = None,
    seal_image: Annotated[Path | None, typer.Option()] = None,
    tsa_url: Text = None,
    ocsp_url: Text = None,
    retention: Annotated[list[str] | None, typer.Option(help="MÃ_THỦ_TỤC=MÃ_THỜI_HẠN (thay cả bảng)")] = None,
) -> None:
    """Sửa thông tin một cơ quan (chỉ các tùy chọn đưa vào). / Change an agency's details (the options given)."""
    from service import agencies
    from service.context import context

    values = dict(locals())
    values.pop("code")
    row = _run(agencies.update, context(), code, _agency_fields(values), actor=operator())
    typer.echo(f"Đã sửa {row.code}: {row.name} ({row.signing}). / Updated {row.code}.")


@registry.command("list")
def agencies_list() -> None:
    """Liệt kê các cơ quan. / List the agencies."""
    from service import agencies
    from service.context import context

    for row in agencies.list_agencies(context()):
        table = " ".join(f"{k}={v}" for k, v in sorted(row.retention.items()))
        typer.echo(f"{row.code}\t{row.parent or '-'}\t{row.name}\t{row.signing}\t{table}")


hooks = typer.Typer(help="Nơi nhận webhook (hệ thống một cửa). / Webhook subscribers (the one-stop system).")
app.add_typer(hooks, name="webhooks")


@hooks.command("add")
def webhooks_add(
    url: Annotated[str, typer.Argument(help="Địa chỉ nhận (http:// hoặc https://)")],
    event: Annotated[
        list[str] | None,
        typer.Option("--event", help="job.done, job.failed, document.signed, dossier.status (mặc định: tất cả)"),
    ] = None,
    secret_file: Annotated[Path | None, typer.Option(help="Tệp chứa khóa HMAC (mặc định: dịch vụ tạo)")] = None,
    agency: Annotated[
        list[str] | None, typer.Option("--agency", help="Chỉ sự kiện của cơ quan này và cấp dưới (lặp lại được)")
    ] = None,
) -> None:
    """Thêm nơi nhận; in khóa bí mật một lần. / Add a subscriber; its secret is printed once."""
    from service import webhooks
    from service.context import context

    secret = secret_file.read_text().strip() if secret_file else ""
    row = _run(webhooks.add_subscriber, context(), url, event, secret, actor=operator(), agencies=agency or None)
    typer.echo(f"Đã thêm nơi nhận số {row.id} ({', '.join(row.events)}); khóa không hiện lại.", err=True)
    typer.echo(f"Added subscriber {row.id} ({', '.join(row.events)}); the secret is not shown again.", err=True)
    typer.echo(row.secret)


@hooks.command("list")
def webhooks_list() -> None:
    """Liệt kê nơi nhận. / List subscribers."""
    from service import webhooks
    from service.context import context

    for row in webhooks.subscribers(context()):
        state = f"đã gỡ / removed {row.removed_at}" if row.removed_at else "hiệu lực / active"
        typer.echo(f"{row.id}\t{row.url}\t{','.join(row.events)}\t{state}")


@hooks.command("remove")
def webhooks_remove(subscriber_id: Annotated[int, typer.Argument(help="Số nơi nhận (`sohoa webhooks list`)")]) -> None:
    """Ngừng gửi tới một nơi nhận. / Stop sending to a subscriber."""
    from service import webhooks
    from service.context import context

    row = _run(webhooks.remove_subscriber, context(), subscriber_id, actor=operator())
    typer.echo(f"Đã gỡ nơi nhận {row.id}. / Removed subscriber {row.id}.")


@hooks.command("deliveries")
def webhooks_deliveries(
    status: Annotated[str | None, typer.Option(help="pending, sending, delivered, failed, dropped")] = None,
    limit: Annotated[int, typer.Option(help="Số dòng")] = 50,
) -> None:
    """Nhật ký gửi, mới nhất trước. / The delivery log, newest first."""
    from service import webhooks
    from service.context import context

    for d in webhooks.deliveries(context(), status=status, limit=limit).deliveries:
        said = d.last_error or (f"HTTP {d.last_status_code}" if d.last_status_code else "")
        typer.echo(f"{d.id}\t{d.event}\t{d.dossier or ''}\t{d.subscriber}\t{d.status}\t{d.attempts}\t{said}")


@app.command("statistics")
def statistics_command(
    period: Annotated[str, typer.Option(help="day, week, month, year, all")] = "month",
    by: Annotated[str, typer.Option(help="agency, procedure (phân cách bằng dấu phẩy)")] = "agency,procedure",
    received_from: Annotated[str | None, typer.Option("--from", help="Tiếp nhận từ ngày YYYY-MM-DD")] = None,
    received_to: Annotated[str | None, typer.Option("--to", help="Tiếp nhận đến ngày YYYY-MM-DD")] = None,
    agency: Annotated[str | None, typer.Option(help="Cơ quan (và cấp dưới)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON thay cho CSV")] = False,
) -> None:
    """Số liệu báo cáo (CSV hoặc JSON). / The province's figures (CSV or JSON)."""
    import datetime as dt

    from service import statistics
    from service.context import context

    existing_data(get_settings())
    try:
        start, end = (dt.date.fromisoformat(d) if d else None for d in (received_from, received_to))
    except ValueError:
        fail(SohoaError("Ngày phải ở dạng YYYY-MM-DD.", "Dates must be YYYY-MM-DD.", field="from/to"))
    figures = _run(
        statistics.statistics, context(), period=period, by=by.split(","), received_from=start,
        received_to=end, agency=agency,
    )  # fmt: skip
    typer.echo(figures.model_dump_json(indent=2) if as_json else statistics.to_csv(figures).lstrip("\ufeff"), nl=False)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Địa chỉ lắng nghe")] = None,
    port: Annotated[int | None, typer.Option(help="Cổng")] = None,
) -> None:
    """Chạy dịch vụ HTTP (kèm bộ xử lý công việc). / Run the HTTP service (with its worker)."""
    import uvicorn

    from service import logs
    from service.context import context

    settings = get_settings()
    logs.setup()
    # Migrate and make the demo PKI here, once, before the server processes start side by side.
    _run(lambda: context(settings).trust_roots())
    _first_admin(settings)
    uvicorn.run(
        "api:app",
        host=host or settings.host,
        port=port or settings.port,
        workers=settings.api_processes,
        log_config=logs.config(),
        access_log=False,
    )


def _first_admin(settings: Settings) -> None:
    """A fresh install's first start makes the web pages' administrator and says how to log in."""
    from service import people
    from service.context import context

    password = _run(people.first_admin, context(settings))
    if password:
        where = settings.data_dir.resolve() / "admin-password.txt"
        url = f"http://{settings.host}:{settings.port}/"
        typer.echo(
            f"Tài khoản quản trị đầu tiên / first administrator: {url} — tên / name: {people.FIRST_ADMIN}, "
            f"mật khẩu / password: {password} (cũng ở / also in {where}; đổi sau khi đăng nhập / change it "
            "after logging in)",
        )  # on stdout, for the person who started it: stderr carries only the JSON log lines


@app.command()
def worker() -> None:
    """Chạy một tiến trình xử lý công việc riêng. / Run a separate job worker process."""
    from service import logs, queue

    logs.setup()
    _run(queue.run_worker)


@app.command()
def process(
    code: Annotated[str, typer.Argument(help="Mã hồ sơ")],
    inputs: Annotated[list[Path], typer.Argument(help="Tệp quét")],
) -> None:
    """Nhận và xử lý ngay tệp quét vào hồ sơ, không cần máy chủ. / Ingest scans into a dossier now, without a server."""
    from service import scans
    from service.context import context
    from service.run import run_job
    from service.views import ScanResult

    ctx = context()
    for path in inputs:
        if not path.is_file():
            fail(SohoaError(f"Không có tệp {path}.", f"No such file: {path}.", field=str(path)))
        accepted = _run(scans.submit_scan, ctx, code, path, path.name, actor=operator())
        _run(run_job, ctx, accepted.id)  # here and now; the queued task finds it done
        view = _run(scans.get_job, ctx, accepted.id)
        if view.error is not None:
            fail(SohoaError(view.error.vi, view.error.en, field=view.error.field))
        if not isinstance(view.result, ScanResult):
            fail(SohoaError(f"Công việc {view.id} chưa xong.", f"Job {view.id} is not done.", field=str(path)))
        signed = " và ký (cơ quan)" if view.result.signed is not None else ""
        typer.echo(f"{path}: {view.result.pages} trang đã số hóa{signed} vào hồ sơ {code}")


station = typer.Typer(help="Trạm quét trên máy tính bàn một cửa. / The scanner station on the desk PC.")
app.add_typer(station, name="station")


@station.command("watch")
def station_watch(
    folder: Annotated[Path, typer.Argument(help="Thư mục phần mềm máy quét ghi tệp vào")],
    server: Annotated[str, typer.Option(help="Địa chỉ dịch vụ, vd. http://may-chu:8000")],
    token_file: Annotated[Path, typer.Option(help="Tệp chứa mã truy cập của trạm quét (vai trò scanner)")],
    default_code: Annotated[str | None, typer.Option(help="Mã hồ sơ cho tệp không có mã nào khác")] = None,
    name_pattern: Annotated[
        str | None, typer.Option(help="Biểu thức chính quy lấy mã từ tên tệp (nhóm đầu tiên); mặc định: mã bất kỳ")
    ] = None,
    code_pattern: Annotated[str | None, typer.Option(help="Dạng mã hồ sơ (như SOHOA_DOSSIER_CODE_PATTERN)")] = None,
    settle: Annotated[float, typer.Option(help="Số giây cỡ tệp phải đứng yên trước khi gửi")] = 2.0,
    piece_kb: Annotated[int, typer.Option(help="Cỡ mỗi phần gửi, KiB")] = 4096,
    max_wait: Annotated[float, typer.Option(help="Thời gian chờ dài nhất giữa hai lần thử khi mất mạng, giây")] = 60.0,
) -> None:
    """Theo dõi thư mục quét và gửi từng tệp vào hồ sơ của nó, không mất tệp khi mất mạng.
    / Watch the scanner's folder and send each file to its dossier, through outages."""
    import re
    import signal
    import threading

    from station.agent import Agent, Config

    if not folder.is_dir():
        fail(SohoaError(f"Không có thư mục {folder}.", f"No such folder: {folder}.", field="folder"))
    try:
        token = token_file.read_text(encoding="utf-8-sig").strip()
    except OSError as e:
        fail(SohoaError(f"Không đọc được {token_file}: {e}", f"Cannot read {token_file}: {e}", field="token_file"))
    for name, pattern in (("name_pattern", name_pattern), ("code_pattern", code_pattern)):
        try:
            re.compile(pattern or "")
        except re.error as e:
            fail(SohoaError(f"Biểu thức {pattern} sai: {e}", f"Bad regular expression {pattern}: {e}", field=name))
    defaults = Config(folder, server, token)
    config = Config(
        folder, server, token, code_pattern=code_pattern or defaults.code_pattern, name_pattern=name_pattern,
        default_code=default_code, settle=settle, piece=piece_kb * 1024, max_wait=max_wait,
    )  # fmt: skip
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    import contextlib

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C: the queue on disk keeps what is left
        Agent(config).run(stop)
    typer.echo("", err=True)


def _day(value: str | None, name: str) -> Any:
    import datetime as dt

    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        fail(
            SohoaError(
                f"Ngày {value!r} không hợp lệ, cần dạng YYYY-MM-DD.",
                f"Invalid date {value!r}, expected YYYY-MM-DD.",
                field=name,
            )
        )


@app.command()
def export(
    codes: Annotated[list[str] | None, typer.Argument(help="Mã hồ sơ")] = None,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Gói .zip (một hồ sơ) hoặc thư mục (nhiều hồ sơ)")
    ] = Path("."),
    received_from: Annotated[str | None, typer.Option(help="Mọi hồ sơ nhận từ ngày (YYYY-MM-DD)")] = None,
    received_to: Annotated[str | None, typer.Option(help="… đến ngày (YYYY-MM-DD)")] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Lưu cả gói vào kho, giữ theo thời hạn bảo quản")] = False,
) -> None:
    """Xuất gói E-ARK (CSIP/SIP) của hồ sơ: mỗi hồ sơ một tệp zip. / Export E-ARK packages, one zip a dossier."""
    from service import packages
    from service.context import context

    existing_data(get_settings())
    ctx = context()
    chosen = list(codes or [])
    if received_from or received_to:
        chosen += _run(
            packages.dossiers_received, ctx, _day(received_from, "received_from"), _day(received_to, "received_to")
        )
    if not chosen:
        fail(SohoaError("Không có hồ sơ nào để xuất.", "No dossier to export.", field="codes"))
    one_file = len(chosen) == 1 and output.suffix.lower() == ".zip"
    if not one_file:
        output.mkdir(parents=True, exist_ok=True)
    for code in dict.fromkeys(chosen):
        target = output if one_file else output / f"{code}.zip"
        try:
            _export_one(ctx, code, target)
        except packages.NothingToExport as e:
            if code in (codes or []):
                fail(e)
            typer.echo(f"{code}: bỏ qua / skipped ({e.en})", err=True)  # a dossier of the period with no document
            continue
        kept = f", {_run(packages.keep, ctx, code, target, actor=operator())}" if keep else ""
        typer.echo(f"{code}: {target} ({target.stat().st_size} byte{kept})")


def _export_one(ctx: Any, code: str, target: Path) -> None:
    """One package written whole or not at all (a .part file renamed at the end)."""
    from service import packages

    partial = target.with_name(f".{target.name}.part")
    try:
        with partial.open("wb") as out:
            for chunk in packages.export(ctx, code, actor=operator()):
                out.write(chunk)
        partial.replace(target)
    except SohoaError as e:
        if isinstance(e, packages.NothingToExport):
            raise
        fail(e)
    finally:
        partial.unlink(missing_ok=True)


@app.command()
def retention(
    due_within: Annotated[str, typer.Option(help="Hết thời hạn bảo quản trong khoảng: 90d, 12w, 1y")] = "90d",
    as_json: Annotated[bool, typer.Option("--json", help="In kết quả dạng JSON")] = False,
) -> None:
    """Hồ sơ sắp hết (hoặc đã hết) thời hạn bảo quản, để lưu trữ xem xét. / Dossiers whose retention ends
    within the window (or has ended), for the archive's review."""
    from service import retention as kept
    from service.context import context

    existing_data(get_settings())
    report = _run(kept.due, context(), _run(kept.parse_window, due_within))
    if as_json:
        echo_json(report)
        return
    typer.echo(f"{len(report.dossiers)} hồ sơ hết hạn bảo quản đến {report.within_days} ngày tới / dossiers due")
    for d in report.dossiers:
        mark = "ĐÃ HẾT / ENDED" if d.ended else "sắp hết / due"
        typer.echo(f"{d.ends_on}  {d.code}  {d.retention} năm  {mark}  {d.title}")


@app.command()
def renew(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Chỉ liệt kê, không gia hạn")] = False,
    window_days: Annotated[int | None, typer.Option(help="Gia hạn khi chứng thư TSA hết hạn trong số ngày này")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="In kết quả dạng JSON")] = False,
) -> None:
    """Gia hạn dấu thời gian (B-LTA) cho bản đã ký có dấu thời gian sắp hết hạn. / Add a new document time
    stamp to signed files whose last time stamp's certificate expires soon (B-LTA)."""
    from service import renewal
    from service.context import context

    existing_data(get_settings())
    report = _run(renewal.renew, context(), dry_run=dry_run, window_days=window_days)
    if as_json:
        echo_json(report)
    for item in [] if as_json else report.documents:
        done = (
            f"→ {item.renewed}"
            if item.renewed
            else ("(thử / dry run)" if dry_run else f"LỖI / FAILED: {item.error_en}")
        )
        typer.echo(f"{item.dossier} tài liệu {item.document_id}: TSA hết hạn {item.expires} {done}")
    failed = [i for i in report.documents if not dry_run and not i.renewed]
    if not as_json:
        typer.echo(f"{len(report.documents)} bản cần gia hạn / due, {len(failed)} lỗi / failed")
    raise typer.Exit(1 if failed else 0)


@app.command("import")
def import_(
    packages: Annotated[list[Path], typer.Argument(help="Gói E-ARK (.zip) do `sohoa export` xuất")],
) -> None:
    """Nhập lại hồ sơ từ gói E-ARK: kiểm mọi tổng kiểm và chữ ký trước khi ghi. / Import dossiers from
    E-ARK packages: every checksum and signature checked before anything is written."""
    from service.context import context
    from service.restore import import_package

    ctx = context()
    for path in packages:
        if not path.is_file():
            fail(SohoaError(f"Không có tệp {path}.", f"No such file: {path}.", field=str(path)))
        code = _run(import_package, ctx, path, actor=operator())
        typer.echo(f"{path}: đã nhập hồ sơ {code} / imported dossier {code}")


def main() -> None:
    if not sys.warnoptions:  # a library's deprecation notice is not for the person at the desk
        warnings.simplefilter("ignore")
    try:
        app()
    except SohoaError as e:  # the settings, read before any command runs
        _tell(e)
        sys.exit(2)


if __name__ == "__main__":
    main()
