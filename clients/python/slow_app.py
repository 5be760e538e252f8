"""The example app with one slow route, for the timings test: the API
latency card must show it as the slowest."""

import asyncio
import os

from fastapi_app import app

DELAY = float(os.environ.get("SLOW_APP_DELAY", "0.25"))


@app.get("/reports/{name}")
async def report(name: str):
    await asyncio.sleep(DELAY)
    return {"report": name}
