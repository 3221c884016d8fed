// A Diun scan burst for scripts/bench/webhook.sh: EVENTS webhook posts from SENDERS concurrent
// senders (Diun's notification workers), each event for one of the named containers with a
// fresh digest, each sender posting its next event as soon as it has its answer.
//
//   node diun-burst.mjs URL SECRET EVENTS SENDERS IMAGE CONTAINER[,CONTAINER...] IDS_FILE
//
// Writes the eventId of every 202 to IDS_FILE (one a line) and prints one JSON line:
// {events, accepted, other, statuses, failed, p50_ms, p90_ms, p99_ms, max_ms, seconds, per_second}.
// Only the URL given is contacted (loopback, from the calling script).
import http from "node:http";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";

const [url, secret, eventsText, sendersText, image, containersText, idsFile] = process.argv.slice(2);
const events = Number(eventsText);
const senders = Number(sendersText);
const containers = containersText.split(",");
if (!url || !Number.isInteger(events) || events < 1 || !Number.isInteger(senders) || senders < 1 || !idsFile) {
  console.error("usage: node diun-burst.mjs URL SECRET EVENTS SENDERS IMAGE CONTAINERS IDS_FILE");
  process.exit(2);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: senders });
const target = new URL(url);
const nonce = randomBytes(8).toString("hex");

function body(n) {
  const digest = "sha256:" + nonce + n.toString(16).padStart(16, "0") + randomBytes(16).toString("hex");
  return JSON.stringify({
    diun_version: "4.28.0", hostname: "bench", status: "update", provider: "docker", image,
    hub_link: "", mime_type: "application/vnd.docker.distribution.manifest.v2+json", digest,
    created: "2024-10-15T19:58:44Z", platform: "linux/amd64",
    metadata: { ctn_names: containers[n % containers.length], ctn_state: "running" },
  });
}

function post(payload) {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const request = http.request({
      agent, host: target.hostname, port: target.port, path: target.pathname, method: "POST",
      headers: { Authorization: `Bearer ${secret}`, "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload) },
    }, (response) => {
      const chunks = [];
      response.on("data", (chunk) => chunks.push(chunk));
      response.on("end", () => resolve({
        status: response.statusCode, text: Buffer.concat(chunks).toString(),
        ms: Number(process.hrtime.bigint() - started) / 1e6,
      }));
    });
    request.on("error", (error) => resolve({ status: 0, text: String(error), ms: Number(process.hrtime.bigint() - started) / 1e6 }));
    request.end(payload);
  });
}

const latencies = [];
const ids = [];
const statuses = {};
let next = 0;
let failed = 0;
const began = process.hrtime.bigint();
await Promise.all(Array.from({ length: senders }, async () => {
  for (let n = next++; n < events; n = next++) {
    const answer = await post(body(n));
    latencies.push(answer.ms);
    statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
    if (answer.status === 202) {
      const id = JSON.parse(answer.text).eventId;
      if (Number.isInteger(id)) ids.push(id); else failed++;
    } else if (answer.status === 0) {
      failed++;
    }
  }
}));
const seconds = Number(process.hrtime.bigint() - began) / 1e9;
agent.destroy();

latencies.sort((a, b) => a - b);
const at = (q) => latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)];
writeFileSync(idsFile, ids.join("\n") + (ids.length ? "\n" : ""));
console.log(JSON.stringify({
  events, accepted: statuses[202] ?? 0, other: events - (statuses[202] ?? 0), statuses, failed,
  p50_ms: +at(0.5).toFixed(2), p90_ms: +at(0.9).toFixed(2), p99_ms: +at(0.99).toFixed(2), max_ms: +latencies.at(-1).toFixed(2),
  seconds: +seconds.toFixed(2), per_second: Math.round(events / seconds),
}));
