"""The bare app the HTTP benchmarks compare against: Litestar returning a small JSON
object, served by the same uvicorn with the same settings as `referral serve`.

    uvicorn --app-dir bench/bare bare_app:create_app --factory

It lives in a folder of its own: bench/http.py would shadow the standard `http` module
for anything imported with bench/ on the path.
"""

from litestar import Litestar, get


@get("/")
async def hello() -> dict[str, str]:
    return {"service": "bare", "status": "ok"}


def create_app() -> Litestar:
    return Litestar([hello])
