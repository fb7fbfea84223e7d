// cluster-probe.js: measures the cross-node path of a Parley cluster, which
// "parley bench" cannot (it takes one --url, so its publishers and
// receivers share a node). It opens --receivers parley.v1 connections to
// --recv, one publisher to --pub, all in one new room, publishes --rate
// messages/s for --duration seconds and prints delivery latency (receive
// time minus send time, one clock: both ends are this process), lost and
// duplicated deliveries as one JSON line. Point --pub and --recv at the
// same server to measure the same-node path with the same client costs.
//
//   node cluster-probe.js --pub ws://127.0.0.1:9701/ws --recv ws://127.0.0.1:9702/ws \
//        --receivers 200 --rate 100 --duration 10
//
// Needs the npm ws package (bench/peers/install.sh puts it beside this file).
"use strict";
const WebSocket = require("ws");

const opt = { pub: "", recv: "", receivers: 200, rate: 100, duration: 10, drain: 3 };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, "");
  if (!(k in opt)) { console.error(`unknown flag --${k}`); process.exit(2); }
  opt[k] = typeof opt[k] === "number" ? Number(process.argv[i + 1]) : process.argv[i + 1];
}
if (!opt.pub || !opt.recv) { console.error("--pub and --recv are required"); process.exit(2); }

const run = Math.floor(Math.random() * 1e9).toString(36);
const room = `probe-${run}`;
const now = () => Number(process.hrtime.bigint()); // ns, monotonic
const lat = []; // ns
let step = "warm", warmHeard = 0, delivered = 0, dup = 0;

function open(url, name) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}?name=${name}`, "parley.v1");
    ws.once("error", reject);
    ws.on("message", (data) => {
      const s = data.toString();
      if (s.startsWith('{"type":"welcome"')) ws.send(JSON.stringify({ type: "join", id: "j", room }));
      else if (s.startsWith('{"type":"joined"')) resolve(ws);
      else if (s.startsWith('{"type":"error"')) reject(new Error(s));
    });
  });
}

// Every message text is "P<run>.<step>.<seq>.<send ns>.".
function onMessage(seen, data) {
  const s = data.toString();
  const i = s.indexOf(`"text":"P${run}.`);
  if (i < 0) return;
  const [st, seq, sent] = s.slice(i + 9 + run.length + 1).split(".", 3);
  if (st === "warm") { if (!seen.warm) { seen.warm = true; warmHeard++; } return; }
  if (seen.has(seq)) { dup++; return; }
  seen.add(seq);
  delivered++;
  lat.push(now() - Number(sent));
}

(async () => {
  const recvs = [];
  for (let i = 0; i < opt.receivers; i += 50) {
    const batch = [];
    for (let j = i; j < Math.min(i + 50, opt.receivers); j++) batch.push(open(opt.recv, `pr${run}r${j}`));
    recvs.push(...(await Promise.all(batch)));
  }
  for (const ws of recvs) {
    const seen = new Set();
    ws.on("message", (d) => onMessage(seen, d));
  }
  const pub = await open(opt.pub, `pr${run}p`);
  let refused = 0;
  pub.on("message", (d) => { if (d.toString().startsWith('{"type":"error"')) refused++; });
  let seq = 0;
  const send = (st) => {
    seq++;
    pub.send(JSON.stringify({ type: "send", id: String(seq), room, nonce: `n${seq}`, text: `P${run}.${st}.${seq}.${now()}.` }));
  };
  // Warm up until every receiver heard the publisher (the other node
  // subscribes to the room when its first member joins).
  for (let k = 0; warmHeard < recvs.length; k++) {
    if (k === 200) { console.error(`only ${warmHeard}/${recvs.length} receivers heard the warm-up`); process.exit(1); }
    send("warm");
    await new Promise((r) => setTimeout(r, 50));
  }
  step = "run";
  const total = Math.round(opt.rate * opt.duration), t0 = now(), interval = 1e9 / opt.rate;
  let sent = 0;
  await new Promise((resolve) => {
    const tick = () => {
      while (sent < total && now() - t0 >= sent * interval) { send("run"); sent++; }
      if (sent >= total) return resolve();
      setTimeout(tick, 1);
    };
    tick();
  });
  await new Promise((r) => setTimeout(r, opt.drain * 1000));
  lat.sort((a, b) => a - b);
  const q = (p) => (lat.length ? +(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] / 1e6).toFixed(3) : null);
  console.log(JSON.stringify({ pub: opt.pub, recv: opt.recv, receivers: recvs.length, rate: opt.rate, duration_s: opt.duration,
    sent, refused, expected: sent * recvs.length, delivered, lost: sent * recvs.length - delivered, duplicated: dup,
    p50_ms: q(0.5), p90_ms: q(0.9), p99_ms: q(0.99), max_ms: q(1) }));
  process.exit(0);
})().catch((e) => { console.error(String(e)); process.exit(1); });
