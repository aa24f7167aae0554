"""Simplified copy of sidecar/queues/{intake,ingest,jobhash}.py: KEYS/ARGV for ingest.lua."""
import base64, hashlib, json, os, pickle, time, uuid, zlib
from datetime import datetime, timezone
LUA = open(os.path.join(os.path.dirname(__file__), "ingest.lua")).read()
QUEUE = "default"
TEMPLATE = ["status", "queued", "created_at", None, "enqueued_at", None, "origin", None, "data", None,
            "description", None, "timeout", "180", "result_ttl", "500", "failure_ttl", "31536000",
            "ttl", "", "worker_name", "", "last_heartbeat", "", "meta", "", "started_at", "", "ended_at", ""]

def admission(method, path, query, headers, body):
    payload = {"method": method, "path": path, "query": query, "headers": headers,
               "body": base64.b64encode(body).decode(), "receivedAt": time.time()}
    job_id = uuid.uuid4().hex
    identity = "\n".join([method, path, hashlib.sha256(body).hexdigest()])
    claim = f"sidecar:dedup:{QUEUE}:{hashlib.sha256(identity.encode()).hexdigest()}"
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    flat = TEMPLATE.copy()
    flat[3] = flat[5] = now; flat[7] = QUEUE
    flat[9] = zlib.compress(pickle.dumps(("sidecar.worker.deliver", None, (payload,), {})))
    flat[11] = f"{method} {path}"
    keys = [claim, "sidecar:ratelimit:none", "rq:job:" + job_id, "rq:queues", "rq:queue:" + QUEUE, "sidecar:wake:" + QUEUE]
    args = [job_id, 3600, 0, 0, *flat]
    return job_id, keys, args

def answer(job_id):
    return json.dumps({"status": "queued", "jobId": job_id, "queue": QUEUE}).encode()
