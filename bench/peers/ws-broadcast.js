// ws-broadcast.js: a broadcast chat server on the npm "ws" package, the
// Node.js peer that "parley bench --proto text" measures Parley against.
// Every text message any client sends goes to every connected client,
// sender included, like the gorilla/websocket chat example. Installed and
// run by bench/peers/install.sh; never committed with its node_modules.
//
//   node ws-broadcast.js --addr 127.0.0.1:9600
"use strict";
const { WebSocketServer, WebSocket } = require("ws");

let addr = "127.0.0.1:9600";
const i = process.argv.indexOf("--addr");
if (i > 0 && process.argv[i + 1]) addr = process.argv[i + 1];
const colon = addr.lastIndexOf(":");
const host = addr.slice(0, colon) || "0.0.0.0";
const port = Number(addr.slice(colon + 1));

// perMessageDeflate is off by default in ws; clientTracking keeps
// wss.clients, the set the broadcast walks.
const wss = new WebSocketServer({ host, port, path: "/ws", maxPayload: 64 << 10 });
wss.on("connection", (sock) => {
  sock.on("message", (data, isBinary) => {
    if (isBinary) return;
    for (const c of wss.clients) {
      if (c.readyState === WebSocket.OPEN) c.send(data, { binary: false });
    }
  });
  sock.on("error", () => {});
});
wss.on("listening", () => console.log(`ws-broadcast listening on ws://${addr}/ws`));
