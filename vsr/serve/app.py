"""The web app: a page and the JSON job API it uses, on Starlette. HTTP only: inputs are resolved
and checked here, jobs run through the library's `Job` in worker processes (vsr.serve.scheduler),
previews through `vsr.pipeline.preview`."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import shutil
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from vsr import __version__
from vsr.errors import VsrError
from vsr.media.kinds import is_media
from vsr.pipeline import probe_input
from vsr.serve import security
from vsr.serve.config import ServeConfig
from vsr.serve.scheduler import Scheduler, remove_job_files
from vsr.serve.store import FINAL, JobRow, Store
from vsr.serve.web_options import OPTION_NAMES, OUTPUT_SUFFIXES, Refused, output_name, upscale_options

STATIC = Path(__file__).parent / "static"
EVENT_SECONDS = 0.3  # the event streams look for changes this often: a few updates a second at most
CHUNK = 1 << 20
FREE_MARGIN = 256 << 20  # an upload must leave this much of the disk free


class App:
    """The routes, over one configuration, job table and queue."""

    def __init__(self, config: ServeConfig, *, port: int) -> None:
        self.config = config
        for folder in (config.state, config.uploads, config.previews, config.outputs):
            folder.mkdir(parents=True, exist_ok=True)
        self.store = Store(config.state / "jobs.sqlite")
        self.scheduler = Scheduler(config, self.store)
        self.stopping = threading.Event()
        self._preview_lock = threading.Lock()
        guard = security.Guard(token=config.token, hosts=config.host_names(port))
        self.starlette = Starlette(
            routes=[
                Route("/", self.page),
                Mount("/static", StaticFiles(directory=STATIC), name="static"),
                Route("/api/info", self.info),
                Route("/api/files", self.files),
                Route("/api/probe", self.probe),
                Route("/api/uploads", self.upload, methods=["POST"]),
                Route("/api/jobs", self.list_jobs, methods=["GET"]),
                Route("/api/jobs", self.add_job, methods=["POST"]),
                Route("/api/jobs/{id}", self.get_job, methods=["GET"]),
                Route("/api/jobs/{id}", self.delete_job, methods=["DELETE"]),
                Route("/api/jobs/{id}/cancel", self.cancel_job, methods=["POST"]),
                Route("/api/jobs/{id}/retry", self.retry_job, methods=["POST"]),
                Route("/api/jobs/{id}/move", self.move_job, methods=["POST"]),
                Route("/api/jobs/{id}/result", self.result),
                Route("/api/jobs/{id}/events", self.job_events),
                Route("/api/events", self.events),
                Route("/api/preview", self.preview, methods=["POST"]),
                Route("/api/previews/{key}/{which}", self.preview_file),
                Route("/api/presets", self.presets, methods=["GET"]),
                Route("/api/presets/{name}", self.save_preset, methods=["PUT"]),
                Route("/api/presets/{name}", self.delete_preset, methods=["DELETE"]),
            ],
            middleware=[Middleware(BaseHTTPMiddleware, dispatch=guard)],
            exception_handlers={Refused: self._refused, 404: self._not_found, 405: self._not_allowed},
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.scheduler.start()
        try:
            yield
        finally:
            self.stopping.set()
            await run_in_threadpool(self.scheduler.stop)

    async def _refused(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refused)
        return security.refusal(str(exc), exc.status)

    async def _not_found(self, request: Request, exc: Exception) -> Response:
        return security.refusal(f"nothing here at {request.url.path}", 404)

    async def _not_allowed(self, request: Request, exc: Exception) -> Response:
        return security.refusal(f"{request.method} is not what {request.url.path} takes", 405)

    # -- the page and what it reads -------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    async def info(self, request: Request) -> Response:
        from vsr.models.catalogue import list_models
        from vsr.runtime import PRECISIONS, backend_specs

        models = await run_in_threadpool(list_models)
        return JSONResponse({
            "version": __version__, "roots": [str(r) for r in self.config.roots],
            "models": [{"name": m.name, "scale": m.scale, "arch": m.arch, "builtin": m.builtin} for m in models],
            "options": list(OPTION_NAMES), "formats": [s.lstrip(".") for s in OUTPUT_SUFFIXES],
            "precisions": list(PRECISIONS), "backends": list(backend_specs.choices()),
            "max_upload_bytes": self.config.max_upload_bytes, "token": self.config.token is not None,
        })

    async def files(self, request: Request) -> Response:
        """The roots, or what a folder under one holds: its folders and media files."""
        given = request.query_params.get("path")
        if not given:
            return JSONResponse({"path": None, "entries": [{"name": str(r), "path": str(r), "folder": True}
                                                           for r in self.config.roots]})
        folder = security.under_roots(given, self.config.roots)
        if not folder.is_dir():
            raise Refused(f"{given}: not a folder")
        entries = []
        for child in sorted(folder.iterdir(), key=lambda p: p.name.lower()):
            resolved = child.resolve()
            if child.name.startswith(".") or not any(resolved.is_relative_to(r) for r in self.config.roots):
                continue  # hidden, or a link out of the roots
            if child.is_dir() or (child.is_file() and is_media(child)):
                entries.append({"name": child.name, "path": str(resolved), "folder": child.is_dir(),
                                "bytes": child.stat().st_size if child.is_file() else None})
        return JSONResponse({"path": str(folder), "entries": entries})

    def _input(self, body: dict[str, Any]) -> tuple[Path, str]:
        """The input a request names, as a path on this machine, and its name for the page."""
        if ("input" in body) == ("upload" in body):
            raise Refused("name the input once: 'input' (a path under the server's folders) or 'upload' (an id)")
        if "upload" in body:
            found = self.store.upload(str(body["upload"]))
            if found is None:
                raise Refused(f"no upload {body['upload']!r}", 404)
            return found[1], found[0]
        path = security.under_roots(body["input"], self.config.roots)
        return path, path.name

    async def probe(self, request: Request) -> Response:
        params = dict(request.query_params)
        path, name = self._input(params)
        if path.is_dir():
            return JSONResponse({"name": name, "kind": "folder"})
        try:
            info = await run_in_threadpool(probe_input, path, path.with_suffix(".png"))
        except VsrError as exc:
            raise Refused(exc.plain, 422) from None
        from vsr.media.animated.source import AnimationInfo
        from vsr.media.video_source import VideoInfo

        kind, duration = "image", 0.0
        if isinstance(info, VideoInfo):
            kind, duration = "video", info.duration or 0.0
        elif isinstance(info, AnimationInfo):
            kind, duration = "animation", info.duration_ms / 1000
        return JSONResponse({"name": name, "kind": kind, "width": info.width, "height": info.height,
                             "duration": duration, "frames": info.estimated_frames})

    # -- uploads --------------------------------------------------------------------------------

    async def upload(self, request: Request) -> Response:
        """The body, streamed to disk as NAME.part and renamed once whole; gone if the client
        goes away first. Over the size cap: 413; short of disk: 507."""
        name = Path((request.query_params.get("name") or "").replace("\\", "/")).name
        if not name or name.startswith(".") or not is_media(Path(name)):
            raise Refused("name must be the file's name, with a video or image extension (name=clip.mp4)")
        cap = self.config.max_upload_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            raise Refused(f"the file is {int(declared):,} bytes; this server takes up to {cap:,}", 413)
        free = shutil.disk_usage(self.config.uploads).free
        if declared is not None and declared.isdigit() and int(declared) + FREE_MARGIN > free:
            raise Refused(f"the server has {free:,} bytes of disk free, not enough for this file", 507)
        upload_id = uuid.uuid4().hex[:12]
        folder = self.config.uploads / upload_id
        folder.mkdir()
        part, final = folder / f"{name}.part", folder / name
        size = 0
        try:
            with part.open("wb") as out:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > cap:
                        raise Refused(f"the file is over {cap:,} bytes, the most this server takes", 413)
                    await run_in_threadpool(out.write, chunk)
            if size == 0:
                raise Refused("the upload was empty")
            part.rename(final)
        except (Refused, ClientDisconnect, OSError):
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self.store.add_upload(upload_id=upload_id, name=name, path=final, size=size)
        return JSONResponse({"upload": upload_id, "bytes": size}, status_code=201)

    # -- jobs -----------------------------------------------------------------------------------

    async def _json(self, request: Request) -> dict[str, Any]:
        security.json_body_required(request)
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            raise Refused("the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise Refused("the body must be a JSON object")
        return body

    async def add_job(self, request: Request) -> Response:
        body = await self._json(request)
        path, name = self._input(body)
        upscale_options(body.get("options"))  # refused now, not when it runs
        if path.is_dir():
            output = body.get("output") or f"{name}-upscaled"
            if not isinstance(output, str) or Path(output).name != output or output.startswith("."):
                raise Refused("output must be a folder name, without a path")
        else:
            output = output_name(body.get("output"), name)
        frames = None
        if path.is_file():
            try:
                frames = (await run_in_threadpool(probe_input, path, Path(output))).estimated_frames
            except VsrError as exc:
                raise Refused(exc.plain, 422) from None
        job_id = uuid.uuid4().hex[:12]
        target = self.config.outputs / job_id / output
        job = self.store.add_job(job_id=job_id, input=str(path), output=str(target), options=body.get("options") or {},
                                 frames_total=frames)
        return JSONResponse({"id": job.id, "state": job.state}, status_code=201)

    def _job(self, request: Request) -> JobRow:
        job = self.store.job(request.path_params["id"])
        if job is None:
            raise Refused(f"no job {request.path_params['id']!r}", 404)
        return job

    async def list_jobs(self, request: Request) -> Response:
        return JSONResponse({"jobs": [j.public() for j in self.store.jobs()], "queue": self._queue()})

    async def get_job(self, request: Request) -> Response:
        return JSONResponse(self._job(request).public())

    async def cancel_job(self, request: Request) -> Response:
        job = self._job(request)
        if not await run_in_threadpool(self.scheduler.cancel, job.id):
            raise Refused(f"job {job.id} has ended already ({job.state})", 409)
        return JSONResponse(self._job(request).public())

    async def retry_job(self, request: Request) -> Response:
        job = self._job(request)
        if job.state not in ("failed", "cancelled"):
            raise Refused(f"job {job.id} is {job.state}; only a failed or cancelled job is retried", 409)
        output = Path(job.output)
        if output.is_file():
            output.unlink()
        self.store.update(job.id, state="queued", stage=None, error=None, finished=None, frames_done=0, fps=None,
                          eta_seconds=None, note="retried: finished segments are reused")
        self.store.move(job.id, 10**9)
        return JSONResponse(self._job(request).public())

    async def move_job(self, request: Request) -> Response:
        job = self._job(request)
        body = await self._json(request)
        to = body.get("to")
        if not isinstance(to, int) or isinstance(to, bool) or to < 0:
            raise Refused("to must be the job's new place among the queued ones, 0 for next")
        if job.state != "queued":
            raise Refused(f"job {job.id} is {job.state}; only queued jobs move", 409)
        self.store.move(job.id, to)
        return JSONResponse(self._job(request).public())

    async def delete_job(self, request: Request) -> Response:
        """Cancel it where it runs, then forget it and remove its files (output, kept segments)."""
        job = self._job(request)
        await run_in_threadpool(self.scheduler.cancel, job.id)
        await run_in_threadpool(remove_job_files, Path(job.output), self.config.outputs)
        self.store.delete_job(job.id)
        return Response(status_code=204)

    async def result(self, request: Request) -> Response:
        """The output, by job id only (HTTP Range supported); a folder job's files by name."""
        job = self._job(request)
        if job.state != "done":
            raise Refused(f"job {job.id} is {job.state}; its result comes when it is done", 409)
        output = Path(job.output)
        if output.is_dir():
            wanted = request.query_params.get("file")
            files = sorted(p.name for p in output.iterdir() if p.is_file())
            if wanted is None:
                return JSONResponse({"files": files})
            if wanted not in files:
                raise Refused(f"no file {wanted!r} in job {job.id}'s results", 404)
            output = output / wanted
        if not output.is_file():
            raise Refused(f"job {job.id}'s output is gone", 410)
        return FileResponse(output, filename=output.name, content_disposition_type=(
            "attachment" if request.query_params.get("download") else "inline"))

    # -- progress -------------------------------------------------------------------------------

    def _queue(self) -> dict[str, Any]:
        """The queue's length and the time it will take at the steady rate (None where unknown)."""
        jobs = self.store.jobs()
        running = [j for j in jobs if j.state == "running"]
        queued = [j for j in jobs if j.state == "queued"]
        rates = [j.fps for j in running if j.fps] or [j.summary["fps"] for j in jobs
                                                      if j.summary and j.summary.get("fps")][:1]
        eta: float | None = sum(j.eta_seconds or 0 for j in running)
        for job in queued:
            frames = job.frames_total
            if frames is None or not rates:
                eta = None
                break
            eta = (eta or 0) + max(0, frames - job.frames_done) / rates[0]
        return {"running": len(running), "queued": len(queued), "eta_seconds": None if eta is None else round(eta, 1)}

    async def _stream(self, request: Request, snapshot: Any, done: Any = lambda: False) -> AsyncIterator[str]:
        seen = -1
        while not self.stopping.is_set():
            version = await run_in_threadpool(self.store.version)
            if version != seen:
                seen = version
                yield f"data: {json.dumps(await run_in_threadpool(snapshot))}\n\n"
                if await run_in_threadpool(done):
                    return
            if await request.is_disconnected():
                return
            await asyncio.sleep(EVENT_SECONDS)

    async def events(self, request: Request) -> Response:
        """Every job and the queue, whole on connect and again on each change."""
        def snapshot() -> dict[str, Any]:
            return {"jobs": [j.public() for j in self.store.jobs()], "queue": self._queue()}

        return StreamingResponse(self._stream(request, snapshot), media_type="text/event-stream")

    async def job_events(self, request: Request) -> Response:
        """One job, on each change, until it ends."""
        job_id = self._job(request).id

        def snapshot() -> dict[str, Any]:
            job = self.store.job(job_id)
            return job.public() if job is not None else {"id": job_id, "state": "deleted"}

        def done() -> bool:
            job = self.store.job(job_id)
            return job is None or job.state in FINAL

        return StreamingResponse(self._stream(request, snapshot, done), media_type="text/event-stream")

    # -- previews -------------------------------------------------------------------------------

    async def preview(self, request: Request) -> Response:
        """One frame with the chosen options, before and after, at the output size; cached."""
        body = await self._json(request)
        path, _ = self._input(body)
        if path.is_dir():
            raise Refused("a preview is of one file; pick a file of the folder")
        time = body.get("time", 0)
        if not isinstance(time, int | float) or isinstance(time, bool) or not 0 <= time < 1e7:
            raise Refused("time must be the moment to preview, in seconds from the start")
        options = upscale_options(body.get("options"))
        stat = path.stat()
        key = hashlib.sha256(json.dumps([str(path), stat.st_size, stat.st_mtime_ns, float(time),
                                         body.get("options") or {}], sort_keys=True).encode()).hexdigest()[:24]
        folder = self.config.previews / key
        if not (folder / "meta.json").is_file():
            await run_in_threadpool(self._make_preview, path, float(time), options, folder)
        meta = json.loads((folder / "meta.json").read_text())
        return JSONResponse({"before": f"/api/previews/{key}/before.png", "after": f"/api/previews/{key}/after.png",
                             **meta})

    def _make_preview(self, path: Path, time: float, options: Any, folder: Path) -> None:
        from PIL import Image

        from vsr.pipeline import preview

        with self._preview_lock:  # one at a time: each takes all the cores a frame needs
            if (folder / "meta.json").is_file():
                return
            try:
                shown = preview(path, time, options)
            except VsrError as exc:
                raise Refused(exc.plain, 422) from None
            scratch = folder.with_name(folder.name + ".part")
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir(parents=True)
            Image.fromarray(shown.before).save(scratch / "before.png")
            after = Image.fromarray(shown.after)
            if shown.alpha is not None:
                after.putalpha(Image.fromarray(shown.alpha))
            after.save(scratch / "after.png")
            width, height = shown.size
            (scratch / "meta.json").write_text(json.dumps({"width": width, "height": height, "time": shown.time}))
            shutil.rmtree(folder, ignore_errors=True)
            scratch.rename(folder)

    async def preview_file(self, request: Request) -> Response:
        key, which = request.path_params["key"], request.path_params["which"]
        if which not in ("before.png", "after.png") or not key.isalnum():
            raise Refused("no such preview image", 404)
        path = self.config.previews / key / which
        if not path.is_file():
            raise Refused("no such preview image", 404)
        return FileResponse(path, media_type="image/png")

    # -- presets --------------------------------------------------------------------------------

    async def presets(self, request: Request) -> Response:
        return JSONResponse({"presets": self.store.presets()})

    async def save_preset(self, request: Request) -> Response:
        name = request.path_params["name"]
        if not name.strip() or len(name) > 80:
            raise Refused("a preset's name is 1 to 80 characters")
        body = await self._json(request)
        upscale_options(body.get("options"))
        self.store.save_preset(name, body.get("options") or {})
        return JSONResponse({"presets": self.store.presets()})

    async def delete_preset(self, request: Request) -> Response:
        if not self.store.delete_preset(request.path_params["name"]):
            raise Refused(f"no preset {request.path_params['name']!r}", 404)
        return Response(status_code=204)
