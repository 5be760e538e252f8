"""The seed's six points in a FastAPI app, as docs/events.md shows them.
Run: VITALS_URL=... VITALS_INGEST_TOKEN=... uvicorn fastapi_app:app"""

from fastapi import FastAPI
from pydantic import BaseModel

import vitals

app = FastAPI()
# Times every request by its route template for the dashboard's API latency
# card (POST /api/v1/timings every VITALS_TIMINGS_INTERVAL seconds).
app.add_middleware(vitals.ASGIMiddleware)


class Registration(BaseModel):
    email: str


class Track(BaseModel):
    id: int
    title: str
    added_by: str


@app.get("/health")
async def health():
    return {"status": "ok"}


@app.post("/auth/register")
async def register(body: Registration):
    # ... the user is created and committed ...
    vitals.log_activity("user_registered", "New user registered", user_email=body.email)
    return {"status": "pending"}


@app.post("/users/{email}/approve")
async def approve(email: str):
    vitals.log_activity("user_approved", "User approved", user_email=email,
                        details={"approved_by": "admin@example.com"})
    return {"status": "approved"}


@app.post("/users/{email}/reject")
def reject(email: str):
    # A plain (sync) handler: FastAPI runs it on a thread; the call is the same.
    vitals.log_activity("user_rejected", "User rejected", user_email=email,
                        details={"reason": "duplicate account"})
    return {"status": "rejected"}


@app.post("/admin/stream/start")
async def start_stream():
    vitals.log_activity("stream_started", "Stream started", details={"mount": "/live", "bitrate_kbps": 128})
    return {"on_air": True}


@app.post("/admin/stream/stop")
async def stop_stream():
    vitals.log_activity("stream_stopped", "Stream stopped", details={"duration_seconds": 5400})
    return {"on_air": False}


@app.post("/playlist/tracks")
async def add_track(track: Track):
    vitals.log_activity("track_added", "Track added to the playlist", user_email=track.added_by,
                        details={"track_id": track.id, "title": track.title})
    return {"added": track.id}
